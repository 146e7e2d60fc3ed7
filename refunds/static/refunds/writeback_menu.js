/* Right-click menu on the raw refund slip list: 退款回传 on the selection, or on the row under the
 * mouse when it is not selected (like a file manager: that row alone). Opens from the keyboard too
 * (the context-menu key or Shift+F10 on a focused row), arrow keys move, Esc closes.
 * It only drives Django admin's own action form, so permissions and results are the server's. */
(function () {
  "use strict";
  const ACTION = "refund_writeback";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    const form = document.getElementById("changelist-form");
    const table = document.getElementById("result_list");
    const actionSelect = form && form.querySelector("select[name=action]");
    if (!form || !table || !actionSelect || !actionSelect.querySelector('option[value="' + ACTION + '"]')) {
      return; // no permission to write back: no menu
    }
    const boxes = () => Array.from(table.querySelectorAll("tbody input.action-select"));
    const checked = () => boxes().filter((b) => b.checked);

    const menu = document.createElement("div");
    menu.id = "writeback-menu";
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", "退款单操作");
    menu.hidden = true;
    menu.innerHTML =
      '<button type="button" role="menuitem" data-action="writeback">退款回传</button>' +
      '<button type="button" role="menuitem" data-action="close">取消</button>';
    document.body.appendChild(menu);
    const items = Array.from(menu.querySelectorAll("[role=menuitem]"));
    let returnFocus = null;

    function selectRow(row) {
      const box = row && row.querySelector("input.action-select");
      if (!box || box.checked) return;
      // Django's actions.js ticks a whole range while Shift is down (it follows Shift through key
      // events), and Shift+F10 holds Shift: say it is up, or the row alone would become a range.
      document.dispatchEvent(new KeyboardEvent("keyup", { key: "Shift", shiftKey: false }));
      checked().forEach((b) => b.click()); // the right-clicked row alone, as in a file manager
      box.click();
    }

    function selectedCount() {
      // "Select all N" across pages: the action runs on every matching slip, not just this page.
      const across = form.querySelector("input.select-across");
      const counter = form.querySelector(".action-counter");
      if (across && across.value === "1" && counter && counter.dataset.actionsIcnt) {
        return Number(counter.dataset.actionsIcnt);
      }
      return checked().length;
    }

    function open(x, y, row) {
      selectRow(row);
      if (!checked().length) return;
      const count = selectedCount();
      items[0].textContent = "退款回传（" + count + " 条）";
      menu.hidden = false;
      const width = menu.offsetWidth, height = menu.offsetHeight;
      menu.style.left = Math.min(x, window.scrollX + document.documentElement.clientWidth - width - 4) + "px";
      menu.style.top = Math.min(y, window.scrollY + document.documentElement.clientHeight - height - 4) + "px";
      if (!menu.contains(document.activeElement)) returnFocus = document.activeElement;
      items[0].focus({ preventScroll: true }); // a scroll would close the menu again
    }

    function close() {
      if (menu.hidden) return;
      menu.hidden = true;
      if (returnFocus && returnFocus.focus) returnFocus.focus();
    }

    function writeBack() {
      close();
      actionSelect.value = ACTION;
      const go = form.querySelector("button[name=index]");
      if (form.requestSubmit) form.requestSubmit(go);
      else go.click();
    }

    table.addEventListener("contextmenu", function (event) {
      const row = event.target.closest("tbody tr");
      if (!row) return;
      event.preventDefault();
      if (event.clientX === 0 && event.clientY === 0) {
        // Fired from the keyboard: place the menu under the row.
        const rect = row.getBoundingClientRect();
        open(window.scrollX + rect.left + 24, window.scrollY + rect.bottom, row);
      } else {
        open(event.pageX, event.pageY, row);
      }
    });

    table.addEventListener("keydown", function (event) {
      if (event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey)) {
        const row = event.target.closest("tbody tr");
        if (!row) return;
        event.preventDefault();
        const rect = row.getBoundingClientRect();
        open(window.scrollX + rect.left + 24, window.scrollY + rect.bottom, row);
      }
    });

    menu.addEventListener("click", function (event) {
      const item = event.target.closest("[role=menuitem]");
      if (!item) return;
      if (item.dataset.action === "writeback") writeBack();
      else close();
    });

    menu.addEventListener("keydown", function (event) {
      const index = items.indexOf(document.activeElement);
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        items[(index + step + items.length) % items.length].focus();
      } else if (event.key === "Tab") {
        close();
      }
    });

    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") close();
    });
    document.addEventListener("mousedown", function (event) {
      if (!menu.hidden && !menu.contains(event.target)) close();
    });
    window.addEventListener("scroll", close, { passive: true });
  });
})();
