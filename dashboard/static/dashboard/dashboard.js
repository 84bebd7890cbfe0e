// The language menu submits itself (no inline handlers: the Content-Security-Policy allows
// only scripts from this origin).
document.addEventListener("change", function (e) {
  if (e.target.matches && e.target.matches("[data-submit-on-change]")) { e.target.form.submit(); }
});

/* The dashboards' live layer (dashboard/views.py): renders the cards from the JSON endpoint,
 * listens on /ws/live/ for hints, and re-fetches over HTTP on every (re)connect and hint, so a
 * lost message costs nothing. Charts: Chart.js, served from this project (vendor/). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var initial = JSON.parse(document.getElementById("dashboard-initial").textContent);
  var S = config.strings;
  var state = { socket: null, fetches: 0, hints: 0, messages: [], inFlight: false, again: false,
                analytics: null, analyticsAt: 0, charts: {}, backoff: 500 };
  window.epDashboard = state;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function num(n) { return n === null || n === undefined ? "—" : Number(n).toLocaleString(); }
  function trx(sun) { return (Number(sun) / 1e6).toLocaleString(undefined, { maximumFractionDigits: 2 }) + " TRX"; }
  function wait(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return "(" + (m ? m + "m " : "") + s + "s)";
  }
  function set(root, field, text) {
    var el = root.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== text) { el.textContent = text; el.classList.add("ep-changed"); setTimeout(function () { el.classList.remove("ep-changed"); }, 800); }
    return el;
  }

  function patchCard(card, pool) {
    card.className = "ep-card level-" + pool.level + " status-" + pool.status + (pool.stale ? " stale" : "");
    set(card, "label", pool.label || pool.address);
    set(card, "status", pool.status);
    var stale = card.querySelector('[data-field="stale"]'); if (stale) stale.hidden = !pool.stale;
    set(card, "usage_percent", String(pool.usage_percent));
    set(card, "available_energy", num(pool.available_energy));
    set(card, "energy_limit", num(pool.energy_limit));
    set(card, "staked_trx", trx(pool.staked_trx_sun));
    set(card, "days_left", pool.days_left === null ? S.sustainable : pool.days_left.toFixed(1) + " " + S.days);
    set(card, "queue_length", num(pool.queue_length));
    set(card, "oldest_wait", wait(pool.oldest_wait_seconds));
    set(card, "last_synced_at", pool.last_synced_at ? new Date(pool.last_synced_at).toLocaleString() : "—");
    var bar = card.querySelector('[data-field="usage_bar"]');
    if (bar) bar.style.width = Math.min(100, Number(pool.usage_percent)) + "%";
    ["warning", "critical", "emergency"].forEach(function (name) {
      var tick = card.querySelector('[data-field="' + name + '_tick"]');
      if (tick) tick.style.left = Number(pool[name + "_threshold"]) + "%";
    });
  }

  function render(data) {
    var container = $("#pool-cards");
    var seen = {};
    (data.pools || []).forEach(function (pool) {
      seen[pool.pool_id] = true;
      var card = container && container.querySelector('[data-pool="' + pool.pool_id + '"]');
      if (!card) { state.missing = true; return; }
      patchCard(card, pool);
    });
    if (container) container.querySelectorAll("[data-pool]").forEach(function (card) {
      card.hidden = !seen[card.getAttribute("data-pool")];
    });
    document.querySelectorAll("[data-total]").forEach(function (el) {
      var key = el.getAttribute("data-total");
      var value = key === "trx_saved" ? trx(data.savings.trx_saved_sun)
        : key === "usage_percent" ? String(data.totals.usage_percent) : num(data.totals[key]);
      if (el.textContent !== value) el.textContent = value;
    });
    if (data.queue) {
      $("#queue-length").textContent = num(data.queue.length);
      $("#queue-oldest").textContent = data.queue.oldest_wait_seconds === null ? "—" : wait(data.queue.oldest_wait_seconds);
    }
    var alerts = $("#alerts");
    if (alerts) {
      $("#alert-count").textContent = String(data.alerts.length);
      alerts.replaceChildren.apply(alerts, data.alerts.map(function (a) {
        var li = document.createElement("li");
        li.className = "level-" + a.level;
        li.textContent = a.level + " — " + a.message + " (" + new Date(a.opened_at).toLocaleString() + ")";
        if (a.acknowledged_at) {
          li.appendChild(document.createTextNode(" · " + S.acknowledged));
        } else if (config.ackUrl) {  // the console: acknowledge in place
          var form = document.createElement("form");
          form.className = "ep-inline";
          form.dataset.ack = String(a.id);
          var button = document.createElement("button");
          button.type = "submit";
          button.textContent = S.acknowledge;
          form.appendChild(button);
          li.appendChild(form);
        }
        return li;
      }));
    }
    var recent = $("#recent-withdrawals");
    if (recent && data.recent_withdrawals) {
      recent.replaceChildren.apply(recent, data.recent_withdrawals.map(function (w) {
        var tr = document.createElement("tr");
        [w.id, w.status, String(Number(w.amount)), new Date(w.created_at).toLocaleString()].forEach(function (v) {
          var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        });
        return tr;
      }));
    }
  }

  // Acknowledge an alert in place: POST through the alerts service (CSRF token from the
  // page's config), then re-fetch; the live hint tells every other open console too.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!config.ackUrl || !form.dataset || !form.dataset.ack) return;
    e.preventDefault();
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    fetch(config.ackUrl.replace(/\/0\/acknowledge$/, "/" + form.dataset.ack + "/acknowledge"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": config.csrfToken, "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      form.replaceWith(document.createTextNode(" · " + S.acknowledged));
      refresh();
    }).catch(function () { if (button) button.disabled = false; });
  });

  function refresh() {
    if (state.inFlight) { state.again = true; return; }
    state.inFlight = true;
    fetch(config.dashboardUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        state.fetches += 1;
        render(data);
        if (state.missing) { window.location.reload(); }
      })
      .catch(function (err) { console.warn("dashboard refresh failed", err); })
      .finally(function () {
        state.inFlight = false;
        if (state.again) { state.again = false; refresh(); }
      });
    if (Date.now() - state.analyticsAt > 30000) loadAnalytics();
  }

  function setLive(live) {
    var el = $("#live-state");
    el.dataset.state = live ? "live" : "reconnecting";
    el.textContent = live ? S.live : S.reconnecting;
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/live/");
    state.socket = socket;
    socket.onopen = function () { state.backoff = 500; setLive(true); refresh(); };
    socket.onmessage = function (message) {
      var data = JSON.parse(message.data);
      state.hints += 1;
      state.messages.push(data);
      if (state.messages.length > 200) state.messages.shift();
      if (data.event !== "hello") refresh();
    };
    socket.onclose = function () {
      setLive(false);
      setTimeout(connect, state.backoff);
      state.backoff = Math.min(5000, state.backoff * 2);
    };
  }

  // Charts ---------------------------------------------------------------------------
  function poolChoice() { var s = $("#chart-pool"); return s && s.value ? Number(s.value) : null; }

  function combine(series, pool) {
    var by = {};
    series.forEach(function (s) {
      if (pool !== null && s.pool_id !== pool) return;
      s.points.forEach(function (p) {
        var e = by[p.t] || (by[p.t] = { used: 0, available: 0 });
        e.used += p.used; e.available += p.available;
      });
    });
    var keys = Object.keys(by).sort();
    return { labels: keys.map(function (k) { return new Date(k).toLocaleString(); }),
             used: keys.map(function (k) { return by[k].used; }),
             available: keys.map(function (k) { return by[k].available; }) };
  }

  function chart(id, type, labels, datasets) {
    if (typeof Chart === "undefined") return;
    var existing = state.charts[id];
    if (existing) { existing.data.labels = labels; existing.data.datasets = datasets; existing.update("none"); return; }
    state.charts[id] = new Chart(document.getElementById(id), {
      type: type, data: { labels: labels, datasets: datasets },
      options: { animation: false, responsive: true, interaction: { mode: "index", intersect: false },
                 scales: { y: { beginAtZero: true } } }
    });
  }

  function drawCharts() {
    var a = state.analytics; if (!a) return;
    var pool = poolChoice();
    var day = combine(a.energy_24h, pool), month = combine(a.energy_daily, pool);
    chart("chart-24h", "line", day.labels, [
      { label: S.used, data: day.used, borderColor: "#c0392b", fill: false },
      { label: S.available, data: day.available, borderColor: "#27ae60", fill: false }]);
    chart("chart-30d", "line", month.labels, [
      { label: S.used, data: month.used, borderColor: "#c0392b", fill: false },
      { label: S.available, data: month.available, borderColor: "#27ae60", fill: false }]);
    chart("chart-savings", "bar", a.daily.map(function (d) { return d.date; }), [
      { label: S.saved, data: a.daily.map(function (d) { return d.trx_saved_sun / 1e6; }), backgroundColor: "#27ae60" },
      { label: S.burned, data: a.daily.map(function (d) { return d.trx_burned_sun / 1e6; }), backgroundColor: "#c0392b" }]);
    var forecast = a.forecast.filter(function (f) { return pool === null || f.pool_id === pool; });
    var figure = $("#forecast-figure");
    if (figure) figure.hidden = forecast.length === 0;
    if (forecast.length) {
      var pts = forecast[0].points;
      chart("chart-forecast", "line", pts.map(function (p) { return new Date(p.t).toLocaleString(); }), [
        { label: S.forecast, data: pts.map(function (p) { return p.predicted; }), borderColor: "#2c3e50" },
        { label: "↑", data: pts.map(function (p) { return p.upper; }), borderColor: "#95a5a6", borderDash: [4, 4] },
        { label: "↓", data: pts.map(function (p) { return p.lower; }), borderColor: "#95a5a6", borderDash: [4, 4] }]);
    }
    drawHeatmap(a);
  }

  function drawHeatmap(a) {
    var table = $("#heatmap"); if (!table) return;
    var names = table.dataset.weekdays.split(",");
    var max = 0; a.heatmap.forEach(function (row) { row.forEach(function (v) { if (v > max) max = v; }); });
    var head = document.createElement("tr"); head.appendChild(document.createElement("th"));
    for (var h = 0; h < 24; h++) { var th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    var rows = [head];
    a.heatmap.forEach(function (row, d) {
      var tr = document.createElement("tr"); var th = document.createElement("th"); th.textContent = names[d]; tr.appendChild(th);
      row.forEach(function (v) {
        var td = document.createElement("td"); td.title = num(v);
        td.style.background = "rgba(192, 57, 43, " + (max ? (0.08 + 0.92 * v / max).toFixed(2) : 0) + ")";
        tr.appendChild(td);
      });
      rows.push(tr);
    });
    table.replaceChildren.apply(table, rows);
    $("#peak-hours").textContent = a.peak_hours.length
      ? a.peak_hours.map(function (p) { return p.hour + ":00 (" + num(p.energy_used) + ")"; }).join(", ") : "—";
  }

  function loadAnalytics() {
    state.analyticsAt = Date.now();
    fetch(config.analyticsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (a) { state.analytics = a; drawCharts(); })
      .catch(function (err) { console.warn("analytics failed", err); });
  }

  var select = $("#chart-pool");
  if (select) {
    var all = document.createElement("option"); all.value = ""; all.textContent = S.all_pools; select.appendChild(all);
    (initial.pools || []).forEach(function (p) {
      var o = document.createElement("option"); o.value = p.pool_id; o.textContent = p.label || p.address; select.appendChild(o);
    });
    select.addEventListener("change", drawCharts);
  }
  render(initial);
  loadAnalytics();
  connect();
})();
