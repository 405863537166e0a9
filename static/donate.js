// The donation form: one amount at a time. Typing in "Other amount" selects "Other amount",
// and choosing a preset empties the box, so what the donor sees chosen is what they give.
// The server refuses a preset sent with a different typed amount (it never guesses), so a
// browser without this script gets a clear message instead of the wrong checkout.
(function () {
  "use strict";
  document.querySelectorAll("form.donate-form").forEach(function (form) {
    var amount = form.querySelector('input[name="amount"]');
    var other = form.querySelector('input[name="preset"][value="other"]');
    if (!amount || !other) { return; }
    amount.addEventListener("input", function () {
      if (amount.value.trim() !== "" && !other.checked) {
        other.checked = true;
        other.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
    form.querySelectorAll('input[name="preset"]').forEach(function (preset) {
      if (preset === other) { return; }
      preset.addEventListener("change", function () {
        if (preset.checked) { amount.value = ""; }
      });
    });
  });
})();
