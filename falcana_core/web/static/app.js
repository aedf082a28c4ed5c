// falcana admin UI: the slide panel, the settings popup, saving and the test e-mail.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function post(url, body) {
    return fetch(url, { method: "POST", body, headers: { "X-CSRFToken": csrf() },
                        credentials: "same-origin" });
  }

  // -- the user list in the slide panel -------------------------------------------------
  const panel = document.getElementById("user-panel");
  let page = 1, cursor = {}, timer = null;  // cursor: the neighbouring user of a page
  async function loadRows() {
    const q = document.getElementById("user-search").value;
    const url = new URL(panel.dataset.rowsUrl, location.href);
    url.searchParams.set("q", q);
    url.searchParams.set("page", page);
    for (const [name, id] of Object.entries(cursor)) url.searchParams.set(name, id);
    const res = await fetch(url, { credentials: "same-origin" });
    document.getElementById("user-rows").innerHTML = await res.text();
  }
  if (panel) {
    const opener = document.getElementById("open-users");
    opener.addEventListener("click", () => {
      panel.hidden = false;
      panel.classList.add("open");
      opener.setAttribute("aria-expanded", "true");
      loadRows().then(() => document.getElementById("user-search").focus());
    });
    document.getElementById("close-users").addEventListener("click", () => {
      panel.classList.remove("open");
      panel.hidden = true;
      opener.setAttribute("aria-expanded", "false");
    });
    document.getElementById("user-search").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { page = 1; cursor = {}; loadRows(); }, 200);
    });
    panel.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-page]");
      if (b) {
        page = Number(b.dataset.page);
        cursor = b.dataset.after ? { after: b.dataset.after }
          : b.dataset.before ? { before: b.dataset.before } : {};
        loadRows();
      }
    });
  }

  // -- the popup ---------------------------------------------------------------------------
  const dialog = document.getElementById("popup");
  async function openPopup(url) {
    const res = await fetch(url, { credentials: "same-origin" });
    const content = dialog.querySelector(".popup-content");
    content.innerHTML = await res.text();
    if (!dialog.open) dialog.showModal();
    wire(content);
    const first = content.querySelector("input, select");
    if (first) first.focus();
  }
  document.addEventListener("dblclick", (e) => {
    const row = e.target.closest("tr.opens-popup");
    if (row && dialog) openPopup(row.dataset.popupUrl);
  });
  document.addEventListener("keydown", (e) => {
    const row = e.target.closest && e.target.closest("tr.opens-popup");
    if (row && dialog && e.key === "Enter") { e.preventDefault(); openPopup(row.dataset.popupUrl); }
  });
  if (dialog) {
    dialog.addEventListener("click", (e) => {
      if (e.target.closest("[data-close]")) dialog.close();
    });
  }

  // -- a section form: save, presets, fields that follow others, actions -------------------------------
  // what an action filled in stays marked (green) with its source until saved; an answer
  // that finds nothing puts back what was there before, so nothing stale looks found
  function clearFilled(form, restore) {
    form.querySelectorAll(".filled").forEach((box) => {
      box.classList.remove("filled");
      box.title = "";
      if (!restore) return;
      box.querySelectorAll("[data-before]").forEach((field) => {
        field.value = field.dataset.before;
        delete field.dataset.before;
        delete field.dataset.typed;
      });
    });
  }

  function fillFrom(form, values, source) {
    clearFilled(form, false);
    for (const [name, value] of Object.entries(values)) {
      const field = form.querySelector(`[name="${name}"]`);
      if (!field) continue;
      if (!("before" in field.dataset)) field.dataset.before = field.value;
      field.value = value;
      field.dataset.typed = "1";  // a filled port is not moved by the connection type
      const box = field.closest(".field");
      if (box) { box.classList.add("filled"); box.title = source || ""; }
      clearDependents(form, name);
    }
    form.dispatchEvent(new Event("falcana:filled"));
  }

  // a permission bound to other fields (a password allowed for one server only) is
  // unticked when one of them changes: the admin ticks it again for the new value
  function clearDependents(form, name) {
    form.querySelectorAll("[data-cleared-by]").forEach((box) => {
      if (JSON.parse(box.dataset.clearedBy).includes(name)) box.checked = false;
    });
  }

  function wirePresets(form) {
    form.querySelectorAll("button.preset:not([data-wired])").forEach((b) => {
      b.dataset.wired = "1";
      b.addEventListener("click", () => {
        for (const [name, value] of Object.entries(JSON.parse(b.dataset.values))) {
          const field = form.querySelector(`[name="${name}"]`);
          if (field) field.value = value;
        }
      });
    });
  }

  function wire(root) {
    root.querySelectorAll("form.section-form").forEach((form) => {
      form.querySelectorAll("[data-follows]").forEach((field) => {
        const leader = form.querySelector(`[name="${field.dataset.follows}"]`);
        const values = JSON.parse(field.dataset.followValues);
        if (!leader) return;
        field.addEventListener("input", () => { field.dataset.typed = "1"; });
        leader.addEventListener("change", () => {
          if (!field.dataset.typed && values[leader.value] !== undefined) field.value = values[leader.value];
        });
      });
      form.querySelectorAll("[data-cleared-by]").forEach((box) => {
        for (const name of JSON.parse(box.dataset.clearedBy)) {
          const leader = form.querySelector(`[name="${name}"]`);
          if (!leader) continue;
          for (const kind of ["input", "change"]) {
            leader.addEventListener(kind, () => { box.checked = false; });
          }
        }
      });
      form.querySelectorAll("[data-shown-when]").forEach((box) => {
        // a field that belongs to one choice of another field (shown_when)
        const leader = form.querySelector(`[name="${box.dataset.shownWhen}"]`);
        const values = JSON.parse(box.dataset.shownValues);
        if (!leader) return;
        const apply = () => {
          const shown = values.includes(leader.value);
          box.hidden = !shown;
          if (box.tagName === "OPTION") {  // a choice of one transport only: not chosen elsewhere
            box.disabled = !shown;
            const select = box.parentElement;
            if (!shown && select.value === box.value) {
              const first = [...select.options].find((o) => !o.disabled);
              if (first) select.value = first.value;
            }
          }
        };
        leader.addEventListener("change", apply);
        apply();
      });
      // help where the choice is made: what the section recognises in the values typed so
      // far (a provider, its help) is shown before saving
      const preview = async () => {
        const url = form.action.split("?")[0] + "/preview";
        const fresh = document.createElement("div");
        fresh.innerHTML = await (await post(url, new FormData(form))).text();
        const swap = (selector) => {
          const now = form.querySelectorAll(selector);
          const anchor = form.querySelector(".falcana-section .field");
          now.forEach((el) => el.remove());
          fresh.querySelectorAll(selector).forEach((el) => {
            if (selector === ".provider" && anchor) anchor.before(el);
            else form.querySelector(".falcana-section").append(el);
          });
        };
        swap(".provider");
        swap(".context-help");
        wirePresets(form);
      };
      form.querySelectorAll("[data-preview-on-change]").forEach((field) => {
        field.addEventListener("change", preview);
      });
      form.addEventListener("falcana:filled", preview);
      form.querySelectorAll("button[data-auto-when-empty]").forEach((b) => {
        const source = form.querySelector(`[name="${b.dataset.beside}"]`);
        const empty = form.querySelector(`[name="${b.dataset.autoWhenEmpty}"]`);
        if (source && empty) source.addEventListener("change", () => {
          if (!empty.value.trim() && source.value.trim()) {
            b.dataset.automatic = "1";  // run for the admin, who is still typing
            b.click();
          }
        });
      });
      wirePresets(form);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const res = await post(form.action, new FormData(form));
        const holder = form.closest(".popup-content, .standalone-popup");
        holder.innerHTML = await res.text();
        wire(holder);
        const focus = holder.querySelector('[aria-invalid="true"]') || holder.querySelector(".message.saved");
        if (focus) {  // the feedback in view, whatever the popup's scroll position
          focus.scrollIntoView({ block: "center" });
          focus.focus({ preventScroll: true });
        }
      });
      form.querySelectorAll("button.action").forEach((b) => b.addEventListener("click", async () => {
        const out = form.querySelector(".action-result");
        if (b.dataset.running) {
          // the admin pressed it while it ran by itself: the answer is theirs to see
          b.dataset.automatic = "0";
          return;
        }
        b.dataset.running = "1";
        form.querySelectorAll(".highlight").forEach((el) => el.classList.remove("highlight"));
        out.innerHTML = '<p class="busy">…</p>';
        // a run of its own stays pressable (see above); the admin's own cannot be doubled
        b.disabled = b.dataset.automatic !== "1";
        const body = new FormData();
        // the form as it stands, with the action's own inputs: an action works on the
        // values on the screen (a test tests what was typed, password included)
        form.querySelectorAll("input[name], select[name]").forEach((field) => {
          if (field.type !== "checkbox" && field.value) body.set(field.name, field.value);
        });
        try {
          const res = await post(form.dataset.actionUrl.replace("__action__", b.dataset.action), body);
          out.innerHTML = await res.text();
        } finally { b.disabled = false; delete b.dataset.running; }
        const automatic = b.dataset.automatic === "1";
        delete b.dataset.automatic;
        // the answer where the admin looks: long help folds away once a test ran, the
        // result's start comes into view, and the keyboard focus (and a screen reader)
        // goes to its headline
        if (out.querySelector(".test-result")) {
          form.querySelectorAll("details.context-help[open]").forEach((d) => { d.open = false; });
        }
        // an action run by itself (settings found for a typed address) leaves the admin
        // where they type: the live region announces it, the filled fields are marked
        if (!automatic) {
          out.scrollIntoView({ block: "start" });
          const heading = out.querySelector("h4, .message");
          if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
        }
        const fill = out.querySelector("[data-fill]");
        if (fill) fillFrom(form, JSON.parse(fill.dataset.fill), fill.dataset.source);
        else if (out.querySelector("[data-nothing-found]")) {
          document.querySelectorAll("form.section-form").forEach((f) => clearFilled(f, true));
        }
        const also = out.querySelector("[data-also]");  // proposals for other sections
        if (also && fill) for (const other of JSON.parse(also.dataset.also)) {
          const target = document.querySelector(`form.section-form[data-section="${other.section}"]`);
          if (!target) continue;
          fillFrom(target, other.values, other.source_label);
          target.querySelectorAll("details.collapsed-section").forEach((d) => { d.open = true; });
        }
        out.querySelectorAll("button.candidate").forEach((c) => c.addEventListener("click", () => {
          fillFrom(form, JSON.parse(c.dataset.values), c.dataset.source);
        }));
        const go = out.querySelector(".redirect[data-url]");
        if (go) { window.location.href = go.dataset.url; return; }
        const result = out.querySelector("[data-highlight-field]");
        if (result) {
          const field = form.querySelector(`[data-field="${result.dataset.highlightField}"]`);
          // marked, not scrolled to: the answer naming it stays in view
          if (field) field.classList.add("highlight");
        }
        out.querySelectorAll("button.save-now").forEach((save) => save.addEventListener(
          "click", () => form.requestSubmit()));
        out.querySelectorAll("button.follow-up[data-post-url]").forEach((p) => p.addEventListener("click", async () => {
          const res = await post(p.dataset.postUrl, new FormData());
          p.replaceWith(Object.assign(document.createElement("p"), {
            className: res.ok ? "message saved" : "message error", textContent: await res.text() }));
        }));
      }));
    });
  }
  document.querySelectorAll(".standalone-popup").forEach(wire);
})();
