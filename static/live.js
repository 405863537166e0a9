// Live progress: every element with data-progress-url polls its case's progress.json and
// refreshes the money and people figures in place, so an open page follows gifts and rescues
// without a reload. The server answers 304 while nothing changed (ETag), so polling is cheap.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var LABELS = {
    requested: "Request received", fundraising: "Fundraising", in_progress: "Rescue under way",
    legal_action: "Legal action", on_hold: "On hold", rescued: "Rescued", closed: "Closed"
  };
  var lang = document.documentElement.lang || "en";

  function money(m) {
    try {
      return new Intl.NumberFormat(lang, { style: "currency", currency: m.currency })
        .format(m.amount_minor / Math.pow(10, digits(m.currency)));
    } catch (e) {
      return m.currency + " " + m.amount_minor;
    }
  }

  function digits(currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency: currency })
        .resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return 2;
    }
  }

  function set(block, name, text) {
    block.querySelectorAll('[data-live="' + name + '"]').forEach(function (el) {
      if (el.textContent !== text) { el.textContent = text; }
    });
  }

  function bar(block, name, percent, label) {
    block.querySelectorAll('[data-live="' + name + '"]').forEach(function (el) {
      el.value = percent;
      el.textContent = percent + "%";
      el.setAttribute("aria-label", label);
    });
  }

  function apply(block, data) {
    var goal = data.goal.amount_minor, raised = data.raised.amount_minor;
    var moneyPercent = goal > 0 ? Math.max(0, Math.min(100, Math.floor(raised * 100 / goal))) : 0;
    var peoplePercent = data.group_size ? Math.floor(data.rescued * 100 / data.group_size) : 0;
    var waiting = data.group_size - data.rescued;
    set(block, "raised", money(data.raised));
    set(block, "rescued", String(data.rescued));
    set(block, "group_size", String(data.group_size));
    set(block, "donors", String(data.donors));
    set(block, "donors-word", data.donors === 1 ? "donor" : "donors");
    set(block, "status", LABELS[data.status] || data.status);
    set(block, "waiting-text", waiting > 0 && data.status !== "rescued" ? ", " + waiting + " still waiting" : "");
    bar(block, "money-bar", moneyPercent, "Money raised: " + moneyPercent + " percent of the goal");
    bar(block, "people-bar", peoplePercent, "People rescued: " + data.rescued + " of " + data.group_size);
    block.querySelectorAll('[data-live="status"]').forEach(function (el) {
      el.className = el.className.replace(/status-\S+/, "status-" + data.status);
    });
    block.setAttribute("data-status", data.status);
    block.querySelectorAll('[data-live="completed"]').forEach(function (el) {
      el.hidden = data.status !== "rescued";
    });
    if (data.status === "rescued") {
      // The case completes only when everyone is safe, so every person row can say so.
      set(block, "person-status", "Rescued");
    }
  }

  function poll(block) {
    fetch(block.getAttribute("data-progress-url"), { cache: "no-cache", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { apply(block, data); } })
      .catch(function () { /* offline for a moment: try again next round */ })
      .then(function () { setTimeout(function () { poll(block); }, INTERVAL_MS); });
  }

  document.querySelectorAll("[data-progress-url]").forEach(function (block) {
    setTimeout(function () { poll(block); }, INTERVAL_MS);
  });
})();
