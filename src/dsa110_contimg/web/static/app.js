// dsa110-contimg operators' pages: token prompt, actions, sortable tables, self-refresh.
// The API token is kept in sessionStorage only (gone when the browser session ends).
"use strict";

const TOKEN_KEY = "contimg-api-token";

function showMessage(text, bad) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.classList.toggle("bad", Boolean(bad));
  box.hidden = false;
}

function askToken() {
  const form = document.getElementById("token-form");
  form.hidden = false;
  form.elements.token.value = "";
  form.elements.token.focus();
  return new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, form.elements.token.value);
      form.hidden = true;
      resolve(true);
    };
    form.querySelector("[data-cancel]").onclick = () => { form.hidden = true; resolve(false); };
  });
}

async function post(url, body) {
  const send = () => {
    const headers = { "Content-Type": "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(url, { method: "POST", headers, body });
  };
  let response = await send();
  if (response.status === 401 && await askToken()) response = await send();
  return response;
}

async function runAction(button) {
  const label = button.dataset.label || "action";
  button.disabled = true;
  try {
    const response = await post(button.dataset.post, button.dataset.body || "{}");
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      showMessage(label + " refused (" + response.status + "): " + (answer.detail || ""), true);
      return;
    }
    showMessage(label + ": done");
    const row = button.closest("tr");
    if (button.dataset.update && row) {
      row.querySelector("[data-" + button.dataset.update + "]").textContent = answer.status;
    }
    if ("reload" in button.dataset) window.location.reload();
  } catch (error) {
    showMessage(label + " failed: " + error, true);
  } finally {
    button.disabled = false;
  }
}

function cellValue(row, index) {
  const cell = row.cells[index];
  const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  const number = Number(raw);
  return raw !== "" && raw !== "–" && Number.isFinite(number) ? number : raw.toLowerCase();
}

function sortTable(header) {
  const table = header.closest("table");
  const index = Array.from(header.parentNode.children).indexOf(header);
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellValue(a, index), y = cellValue(b, index);
    if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;  // blanks last
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  rows.forEach((row) => body.appendChild(row));
}

function startRefresh(element) {
  const seconds = Number(element.dataset.refreshS) || 15;
  setInterval(async () => {
    try {
      const response = await fetch(element.dataset.refreshUrl);
      if (response.ok) {
        element.innerHTML = await response.text();
        element.dataset.refreshedAt = new Date().toISOString();
      }
    } catch (error) {
      showMessage("refresh failed: " + error, true);
    }
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-post]");
    if (button) runAction(button);
    const header = event.target.closest("table.sortable th");
    if (header) sortTable(header);
  });
  document.querySelectorAll("[data-refresh-url]").forEach(startRefresh);
});
