// Copy buttons: a button with data-copy="ID" copies the text of the field with that id and
// says so in the element with data-copy-status="ID" (the word comes from data-copied, in the
// page's language). Without the Clipboard API the field's text is selected instead.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-copy");
      var field = document.getElementById(id);
      var status = document.querySelector('[data-copy-status="' + id + '"]');
      if (!field) { return; }
      function done() {
        if (status) { status.textContent = button.getAttribute("data-copied") || ""; }
      }
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          field.select();
        });
      } else {
        done();
      }
    });
  });
})();
