// The donation form, in two clicks. The currency comes first and only its presets show;
// typing in "Other amount" selects "Other amount" (the preset clears) and choosing a preset
// empties the box, so what the donor sees chosen is what they give (the server also lets a
// typed amount win, for a browser without this script); the box shows the chosen currency's
// sign or unit ($ before, 円 after). "Cover the payment fee" says its amount
// as the amount changes, computed as the server computes it (the percent rounded up to a
// whole minor unit, plus the currency's fixed fee: integers only). Choosing "Give monthly"
// marks the email as needed, and so does "I need a tax receipt", which also shows the fields
// for the receipt's addressee (always shown without this script).
(function () {
  "use strict";

  function digits(text) {
    // full-width digits and marks, as a Japanese keyboard types them
    return text.replace(/[\uFF10-\uFF19\uFF0C\uFF0E]/g, function (ch) {
      return String.fromCharCode(ch.charCodeAt(0) - 0xFEE0);
    });
  }

  // The typed amount in minor units, or null when it is not a plain amount.
  function parseMinor(text, places) {
    var plain = digits(text).replace(/[\s,¥$€円]/g, "");
    var match = /^(\d+)(?:\.(\d+))?$/.exec(plain);
    if (!match || (match[2] && match[2].length > places)) { return null; }
    var fraction = (match[2] || "").padEnd(places, "0");
    var minor = Number(match[1] + fraction);
    return Number.isSafeInteger(minor) ? minor : null;
  }

  function written(minor, terms) {
    var places = Number(terms.places);
    var whole = Math.floor(minor / Math.pow(10, places));
    var text = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    if (places) {
      text += "." + String(minor % Math.pow(10, places)).padStart(places, "0");
    }
    return terms.prefix + text + terms.suffix;
  }

  document.querySelectorAll("form.donate-form").forEach(function (form) {
    var amount = form.querySelector('input[name="amount"]');
    var other = form.querySelector('input[name="preset"][value="other"]');
    var presets = Array.prototype.slice.call(form.querySelectorAll('input[name="preset"]'))
      .filter(function (p) { return p !== other; });
    var currencies = form.querySelectorAll('input[name="currency"]');
    var feeBox = form.querySelector(".fee-cover");
    var feeAmount = form.querySelector(".fee-amount");
    var email = form.querySelector('input[name="email"]');
    form.classList.add("js");

    function chosenCurrency() {
      var checked = form.querySelector('input[name="currency"]:checked');
      return checked || currencies[0];
    }

    function chosenMinor(currency) {
      if (amount && amount.value.trim() !== "") {
        return parseMinor(amount.value, Number(currency.dataset.places));
      }
      var preset = presets.filter(function (p) { return p.checked; })[0];
      return preset ? Number(preset.value.split(":")[1]) : null;
    }

    function sayFee() {
      if (!feeBox || !feeAmount) { return; }
      var currency = chosenCurrency();
      var minor = chosenMinor(currency);
      if (minor === null || minor <= 0) { return; }
      var numerator = Number(feeBox.dataset.numerator);
      var denominator = Number(feeBox.dataset.denominator);
      var product = minor * numerator;
      var fee = Math.floor((product + denominator - 1) / denominator) + Number(currency.dataset.fixed);
      feeAmount.textContent = written(fee, currency.dataset);
    }

    function showCurrency(keepChoice) {
      var currency = chosenCurrency();
      if (!currency) { return; }
      var code = currency.value;
      form.querySelectorAll(".preset-group").forEach(function (group) {
        group.hidden = group.dataset.currency !== code;
      });
      var current = presets.filter(function (p) { return p.checked; })[0];
      if (current && current.value.split(":")[0] !== code && !keepChoice) {
        // the same place in the new currency's row (the second preset when none)
        var oldRow = presets.filter(function (p) { return p.value.split(":")[0] === current.value.split(":")[0]; });
        var newRow = presets.filter(function (p) { return p.value.split(":")[0] === code; });
        var pick = newRow[oldRow.indexOf(current)] || newRow[1] || newRow[0];
        if (pick) { pick.checked = true; } else if (other) { other.checked = true; }
      }
      showUnit(currency);
      sayFee();
      showTransfer();
    }

    // the "other amount" box: the chosen currency's sign or unit around it, an example inside
    function showUnit(currency) {
      form.querySelectorAll('.amount-unit[data-unit="prefix"]').forEach(function (el) {
        el.textContent = currency.dataset.prefix || "";
      });
      form.querySelectorAll('.amount-unit[data-unit="suffix"]').forEach(function (el) {
        el.textContent = currency.dataset.suffix || "";
      });
      if (amount && currency.dataset.placeholder) { amount.placeholder = currency.dataset.placeholder; }
    }

    // the transfer to our own account: yen, one-off gifts only (the server refuses the others)
    function showTransfer() {
      var currency = chosenCurrency();
      var monthly = form.querySelector('input[name="frequency"][value="monthly"]');
      form.querySelectorAll(".bank-transfer").forEach(function (el) {
        el.hidden = !currency || currency.value !== el.dataset.currency || !!(monthly && monthly.checked);
      });
    }

    currencies.forEach(function (c) {
      c.addEventListener("change", function () { showCurrency(false); });
    });
    if (amount && other) {
      amount.addEventListener("input", function () {
        if (amount.value.trim() !== "" && !other.checked) {
          other.checked = true;
          other.dispatchEvent(new Event("change", { bubbles: true }));
        }
        sayFee();
      });
    }
    presets.forEach(function (preset) {
      preset.addEventListener("change", function () {
        if (preset.checked && amount) { amount.value = ""; }
        sayFee();
      });
    });

    var taxBox = form.querySelector('input[name="tax_receipt"]');
    var taxFields = form.querySelector(".tax-receipt-fields");

    function showFrequency() {
      var monthly = form.querySelector('input[name="frequency"][value="monthly"]');
      var isMonthly = !!(monthly && monthly.checked);
      var wantsTax = !!(taxBox && taxBox.checked);
      var needed = isMonthly || wantsTax;
      if (taxFields) { taxFields.hidden = !wantsTax; }
      if (taxBox) { taxBox.setAttribute("aria-expanded", wantsTax ? "true" : "false"); }
      form.querySelectorAll(".email-optional").forEach(function (el) { el.hidden = needed; });
      form.querySelectorAll(".email-monthly").forEach(function (el) { el.hidden = !isMonthly; });
      form.querySelectorAll(".email-tax").forEach(function (el) { el.hidden = isMonthly || !wantsTax; });
      if (email) {
        email.required = needed;
        if (needed) { email.setAttribute("aria-required", "true"); } else { email.removeAttribute("aria-required"); }
      }
      // the payment fee is covered on one-off gifts only
      if (feeBox) { feeBox.hidden = isMonthly; }
      showTransfer();
    }
    form.querySelectorAll('input[name="frequency"]').forEach(function (f) {
      f.addEventListener("change", showFrequency);
    });
    if (taxBox) { taxBox.addEventListener("change", showFrequency); }

    showCurrency(true);
    showFrequency();
  });
})();
