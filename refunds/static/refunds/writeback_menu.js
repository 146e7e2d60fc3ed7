/* Right-click menu on the raw refund slip list: 退款回传 on the selection, or on the row under the
 * mouse when nothing is selected. Right-clicking an unselected row while others are selected asks
 * (仅此行 / 已选的和此行) instead of a file manager's silent "that row alone": a selection someone built
 * by hand must not vanish on a stray click. The label always carries the number that will be sent,
 * "全部 N 条" after Django's 选中所有 (the action then runs on every matching slip, not this page).
 * Opens from the keyboard too (the context-menu key or Shift+F10 on a focused row), arrow keys move,
 * Esc closes and leaves the selection as it was. It only drives Django admin's own action form, so
 * permissions and results are the server's. */
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
    // Stock Django renders the actions as a <select>; the admin theme (simpleui) as one button per
    // action beside a hidden input. Either way the server only runs actions the user may run.
    const actionField = form && form.querySelector("select[name=action], input[name=action]");
    const offered =
      actionField &&
      (actionField.tagName === "SELECT"
        ? actionField.querySelector('option[value="' + ACTION + '"]')
        : form.querySelector('.actions [data-name="' + ACTION + '"]'));
    if (!form || !table || !offered) {
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
      '<button type="button" role="menuitem" data-action="include" hidden style="display:none">退款回传</button>' +
      '<button type="button" role="menuitem" data-action="close">取消</button>';
    document.body.appendChild(menu);
    const allItems = Array.from(menu.querySelectorAll("[role=menuitem]"));
    const [mainItem, includeItem] = allItems;
    const visibleItems = () => allItems.filter((item) => !item.hidden);
    // The page's own count of the whole filtered list (the template writes it): Django's counter only
    // knows the rows on this page.
    const listInfo = document.getElementById("writeback-list-info");
    let returnFocus = null;
    let target = null; // the unselected row the menu was opened on, when it asks

    function tick(boxes) {
      // Django's actions.js ticks a whole range while Shift is down (it follows Shift through key
      // events), and Shift+F10 holds Shift: say it is up, or one row would become a range.
      document.dispatchEvent(new KeyboardEvent("keyup", { key: "Shift", shiftKey: false }));
      boxes.forEach((b) => b.click());
    }

    function showInclude(show) {
      includeItem.hidden = !show;
      includeItem.style.display = show ? "" : "none"; // the menu's stylesheet makes buttons block
    }

    function selectionLabel() {
      const across = form.querySelector("input.select-across");
      if (across && across.value === "1" && listInfo) {
        // 选中所有: the action runs on every slip matching the filters, across pages.
        if (listInfo.dataset.capped === "1") return "全部，超过 " + listInfo.dataset.cap + " 条";
        return "全部 " + listInfo.dataset.total + " 条";
      }
      return checked().length + " 条";
    }

    function open(x, y, row) {
      const box = row && row.querySelector("input.action-select");
      const others = checked().length;
      target = null;
      showInclude(false);
      if (box && !box.checked && others) {
        // Ask rather than drop the selection: nothing changes until a choice is made.
        target = box;
        mainItem.textContent = "退款回传（仅此行，1 条）";
        includeItem.textContent = "退款回传（已选的 " + others + " 条和此行，共 " + (others + 1) + " 条）";
        showInclude(true);
      } else {
        if (box && !box.checked) tick([box]); // nothing was selected: the row under the mouse
        if (!checked().length) return;
        mainItem.textContent = "退款回传（" + selectionLabel() + "）";
      }
      menu.hidden = false;
      const width = menu.offsetWidth, height = menu.offsetHeight;
      menu.style.left = Math.min(x, window.scrollX + document.documentElement.clientWidth - width - 4) + "px";
      menu.style.top = Math.min(y, window.scrollY + document.documentElement.clientHeight - height - 4) + "px";
      if (!menu.contains(document.activeElement)) returnFocus = document.activeElement;
      mainItem.focus({ preventScroll: true }); // a scroll would close the menu again
    }

    function close() {
      if (menu.hidden) return;
      menu.hidden = true;
      if (returnFocus && returnFocus.focus) returnFocus.focus();
    }

    function writeBack(include) {
      close();
      if (target) tick(include ? [target] : [...checked(), target]);
      target = null;
      actionField.value = ACTION;
      const go = form.querySelector("button[name=index]");
      if (go) form.requestSubmit(go);
      else form.requestSubmit();
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
      if (item.dataset.action === "writeback") writeBack(false);
      else if (item.dataset.action === "include") writeBack(true);
      else close();
    });

    menu.addEventListener("keydown", function (event) {
      const items = visibleItems();
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
