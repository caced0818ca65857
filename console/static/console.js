// Progressive enhancement only: every page works without it.
// A form is sent once: a second click while the first is on its way would act twice.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
});
