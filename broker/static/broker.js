/* Behaviour for the broker's pages. Loaded from /static: the content security policy
   refuses inline scripts and on...= attributes, so buttons are wired up here. */
document.addEventListener("click", function (event) {
  var target = event.target.closest("[data-print]");
  if (target) {
    event.preventDefault();
    window.print();
  }
});
