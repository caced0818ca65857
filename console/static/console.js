// Progressive enhancement only: every page works without it.
// A form is sent once: a second click while the first is on its way would act twice.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
});

// 知识库建议: while the agent types the content, ask the console for the articles that may
// answer it (a fragment rendered by the server) and show them beside the form. Without
// this script the "查找相关知识" button does the same with a round trip.
(function () {
  var area = document.querySelector("textarea[data-suggest]");
  if (!area || !window.fetch) { return; }
  var into = document.getElementById(area.dataset.suggestInto);
  var title = area.form ? area.form.querySelector("input[name=title]") : null;
  var timer = null, asked = "";
  function ask() {
    var text = ((title ? title.value : "") + "\n" + area.value).trim();
    if (text === asked) { return; }
    asked = text;
    fetch(area.dataset.suggest + "?q=" + encodeURIComponent(text.slice(0, 1000)), {credentials: "same-origin"})
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) { if (html !== null && text === asked) { into.innerHTML = html; } })
      .catch(function () {});
  }
  function later() { clearTimeout(timer); timer = setTimeout(ask, 400); }
  area.addEventListener("input", later);
  if (title) { title.addEventListener("input", later); }
})();
