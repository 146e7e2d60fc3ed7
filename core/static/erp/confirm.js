/* A form with data-confirm="…" asks before it is sent. Our Content-Security-Policy
 * (core/security.py) refuses inline handlers such as onsubmit="return confirm(…)"; one listener on
 * the document serves every such form, also after the theme's Vue has redrawn it. */
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
