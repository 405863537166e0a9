// Live progress: every element with data-progress-url polls its case's progress.json and
// refreshes the money and people figures in place, so an open page follows gifts and rescues
// without a reload. The server answers 304 while nothing changed (ETag), so polling is cheap.
//
// No words live here: the page gives them in its own language. The script tag's data-text
// holds the status labels and the sentences with {n}-style slots (templates/_macros/
// progress.html), and each block's data-money holds a sample amount (1,234,567 with every
// decimal) formatted by the server, whose symbol, marks and order every figure copies: so
// the page shows "5,000円" in Japanese and "¥5,000" in English, exactly as the server does.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var script = document.currentScript;
  var TEXT = {};
  try {
    TEXT = JSON.parse((script && script.getAttribute("data-text")) || "{}");
  } catch (e) {
    TEXT = {};
  }
  var STATUS = TEXT.status || {};

  function fill(pattern, values) {
    return String(pattern || "").replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : all;
    });
  }

  // The layout of the server's sample: what comes before and after the number, the group
  // mark and the decimal mark, and how many decimals.
  function layout(sample) {
    var m = /^(.*?)1(\D?)234\2(?:567)(?:(\D)(\d+))?(\D*)$/.exec(sample || "");
    if (!m) { return null; }
    return { before: m[1], group: m[2], decimal: m[3] || "", places: m[4] ? m[4].length : 0, after: m[5] };
  }

  function money(block, m) {
    var how = layout(block.getAttribute("data-money"));
    if (!how) {  // no sample on the block: the browser's own formatting is next best
      try {
        var format = new Intl.NumberFormat(document.documentElement.lang || "en",
          { style: "currency", currency: m.currency });
        return format.format(m.amount_minor / Math.pow(10, format.resolvedOptions().maximumFractionDigits));
      } catch (e) {
        return m.currency + " " + m.amount_minor;
      }
    }
    var minor = Math.abs(m.amount_minor), scale = Math.pow(10, how.places);
    var units = String(Math.floor(minor / scale)).replace(/\B(?=(\d{3})+(?!\d))/g, how.group);
    var text = units;
    if (how.places) {
      text += how.decimal + String(minor % scale + scale).slice(1);
    }
    return (m.amount_minor < 0 ? "-" : "") + how.before + text + how.after;
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

  // "{n} donors" around the number: the words before it and after it (a leading space after
  // the number is kept outside the span, as the page has it).
  function donors(block, n) {
    var pattern = String((n === 1 ? TEXT.donors_one : TEXT.donors_other) || "{n}");
    var at = pattern.indexOf("{n}");
    var before = at < 0 ? "" : pattern.slice(0, at);
    var after = at < 0 ? pattern : pattern.slice(at + 3);
    set(block, "donors-before", before);
    set(block, "donors", String(n));
    set(block, "donors-word", after.replace(/^ /, ""));
  }

  function apply(block, data) {
    var goal = data.goal.amount_minor, raised = data.raised.amount_minor;
    var moneyPercent = goal > 0 ? Math.max(0, Math.min(100, Math.floor(raised * 100 / goal))) : 0;
    var peoplePercent = data.group_size ? Math.floor(data.rescued * 100 / data.group_size) : 0;
    var waiting = data.group_size - data.rescued;
    set(block, "raised", money(block, data.raised));
    set(block, "rescued", String(data.rescued));
    set(block, "group_size", String(data.group_size));
    donors(block, data.donors);
    set(block, "status", STATUS[data.status] || data.status);
    set(block, "waiting-text", waiting > 0 && data.status !== "rescued" ? fill(TEXT.waiting, { n: waiting }) : "");
    bar(block, "money-bar", moneyPercent, fill(TEXT.money_label, { percent: moneyPercent }));
    bar(block, "people-bar", peoplePercent, fill(TEXT.people_label, { rescued: data.rescued, total: data.group_size }));
    block.querySelectorAll('[data-live="status"]').forEach(function (el) {
      el.className = el.className.replace(/status-\S+/, "status-" + data.status);
    });
    block.setAttribute("data-status", data.status);
    // The button to give: once the case stops taking gifts, it gives to the general fund.
    block.querySelectorAll("[data-open-statuses]").forEach(function (cta) {
      if (cta.getAttribute("data-open-statuses").split(" ").indexOf(data.status) !== -1) return;
      cta.querySelectorAll("a.button").forEach(function (link) {
        link.href = cta.getAttribute("data-general-href");
        link.textContent = cta.getAttribute("data-general-text");
        link.className = "button big";
      });
      cta.removeAttribute("data-open-statuses");
    });
    block.querySelectorAll('[data-live="completed"]').forEach(function (el) {
      el.hidden = data.status !== "rescued";
    });
    if (data.status === "rescued" && TEXT.person_rescued) {
      // The case completes only when everyone is safe, so every person row can say so.
      set(block, "person-status", TEXT.person_rescued);
    }
  }

  // The people table and the people count and bar, all from one people.json answer, so they
  // never disagree (a person marked rescued changes the row, the count and the bar at once).
  // Rows are rebuilt with textContent only: no markup from the server reaches the page.
  function applyPeople(block, data) {
    var waiting = data.group_size - data.rescued;
    var peoplePercent = data.group_size ? Math.floor(data.rescued * 100 / data.group_size) : 0;
    set(block, "rescued", String(data.rescued));
    set(block, "group_size", String(data.group_size));
    set(block, "waiting-text", waiting > 0 && block.getAttribute("data-status") !== "rescued"
      ? fill(TEXT.waiting, { n: waiting }) : "");
    bar(block, "people-bar", peoplePercent, fill(TEXT.people_label, { rescued: data.rescued, total: data.group_size }));
    block.querySelectorAll('[data-live="people"]').forEach(function (body) {
      var rows = body.querySelectorAll("tr");
      var same = rows.length === data.people.length;
      data.people.forEach(function (person, i) {
        var row = same ? rows[i] : document.createElement("tr");
        if (!same) {
          for (var c = 0; c < 3; c++) { row.appendChild(document.createElement("td")); }
          row.cells[2].setAttribute("data-live", "person-status");
        }
        var texts = [person.alias, person.age_band_text || person.age_band, person.status_text];
        for (var k = 0; k < 3; k++) {
          if (row.cells[k].textContent !== texts[k]) { row.cells[k].textContent = texts[k]; }
        }
        if (!same) { body.appendChild(row); }
      });
      if (!same) {
        // A person added or removed: the rows built above follow the old ones, which go.
        Array.prototype.slice.call(body.querySelectorAll("tr"), 0,
          body.querySelectorAll("tr").length - data.people.length).forEach(function (old) { old.remove(); });
      }
    });
  }

  function getJSON(url) {
    if (!url) { return Promise.resolve(null); }
    return fetch(url, { cache: "no-cache", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; });
  }

  function poll(block) {
    // Both answers are awaited, then applied in the same task: the page changes at once.
    Promise.all([getJSON(block.getAttribute("data-progress-url")),
                 getJSON(block.getAttribute("data-people-url"))])
      .then(function (answers) {
        if (answers[0]) { apply(block, answers[0]); }
        if (answers[1]) { applyPeople(block, answers[1]); }
      })
      .catch(function () { /* offline for a moment: try again next round */ })
      .then(function () { setTimeout(function () { poll(block); }, INTERVAL_MS); });
  }

  document.querySelectorAll("[data-progress-url]").forEach(function (block) {
    setTimeout(function () { poll(block); }, INTERVAL_MS);
  });
})();
