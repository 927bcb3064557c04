// The little the dashboard needs beyond htmx: dialogs, the remembered event, local times.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog) {
        const remembered = dialog.querySelector("[data-remember]");
        if (remembered) {
          const last = localStorage.getItem(remembered.dataset.remember);
          if (last) remembered.value = last;
        }
        dialog.showModal();
      }
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });
  // What was sent is what the editor holds next time (the last event sent).
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.target.closest("form");
    if (!form) return;
    form.querySelectorAll("[data-remember]").forEach(function (field) {
      localStorage.setItem(field.dataset.remember, field.value);
    });
  });
  // Instants are written in UTC; show them in the viewer's own time as well.
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = el.getAttribute("datetime");
      el.textContent = when.toLocaleString();
      el.dataset.local = "1";
    });
  }
  // Step results come compact (a run may have a thousand; indenting them all on the server
  // is most of the page's time): each is laid out when its step is first opened.
  function prettify(root) {
    root.querySelectorAll("pre[data-pretty-json]").forEach(function (el) {
      try {
        el.textContent = JSON.stringify(JSON.parse(el.textContent), null, 2);
      } catch (_) { /* left as it came */ }
      el.removeAttribute("data-pretty-json");
    });
  }
  document.addEventListener("toggle", function (event) {
    if (event.target.open) prettify(event.target);
  }, true);
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSettle", function (event) { localise(event.target); });
})();
