// The partner's wallet page: connect TronLink, then sign the server's one-time challenge.
// Only talks to the wallet the TronLink extension injects (window.tronLink / window.tronWeb)
// and fills the page's forms; the server checks everything (pools/services/wallets.py).
(function () {
  "use strict";

  function injected() {
    var link = window.tronLink;
    return { link: link, web: (link && link.tronWeb) || window.tronWeb };
  }

  // Ask TronLink for the account (the site must be allowed once), then return its tronWeb.
  async function connect(form) {
    var found = injected();
    if (!found.link && !found.web) throw new Error(form.dataset.msgMissing);
    if (found.link && typeof found.link.request === "function") {
      var answer = await found.link.request({ method: "tron_requestAccounts" });
      if (answer && answer.code === 4001) throw new Error(form.dataset.msgRejected);
      found = injected();
    }
    if (!found.web || !found.web.defaultAddress || !found.web.defaultAddress.base58) {
      throw new Error(form.dataset.msgMissing);
    }
    return found.web;
  }

  function showError(form, error) {
    var box = document.getElementById("tronlink-error");
    box.textContent = (error && error.message) || form.dataset.msgRejected;
    box.hidden = false;
  }

  function busy(form, on) {
    form.querySelectorAll("button").forEach(function (button) { button.disabled = on; });
  }

  function wire(form, step) {
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      busy(form, true);
      step(form).then(
        function () { form.submit(); },
        function (error) { busy(form, false); showError(form, error); }
      );
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Step 1: the connected account is the address the server issues a challenge for.
    wire(document.getElementById("connect-form"), async function (form) {
      var web = await connect(form);
      form.elements.address.value = web.defaultAddress.base58;
    });
    // Step 2: TronLink signs the exact challenge text (TIP-191, signMessageV2).
    wire(document.getElementById("sign-form"), async function (form) {
      var web = await connect(form);
      var signature;
      try {
        signature = await web.trx.signMessageV2(form.dataset.message);
      } catch (refused) {
        throw new Error(form.dataset.msgRejected);
      }
      if (typeof signature !== "string" || !signature) throw new Error(form.dataset.msgRejected);
      form.elements.address.value = web.defaultAddress.base58;
      form.elements.signature.value = signature;
    });
  });
})();
