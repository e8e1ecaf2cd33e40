// Collapsible sidebar sections (Channels, Direct messages): the heading button folds its list,
// and the choice is remembered per browser. A folded section still shows conversations with
// unread messages, like Slack, so nothing new is hidden.

const STORAGE_KEY = "enclave.sidebar.folded";

function foldedSections() {
  try {
    return new Set(JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function remember(folded) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify([...folded]));
  } catch {
    // Private mode or a full quota: folding still works for this page.
  }
}

function apply(button, folded) {
  const list = document.getElementById(button.getAttribute("aria-controls"));
  const isFolded = folded.has(button.dataset.section);
  button.setAttribute("aria-expanded", String(!isFolded));
  list?.classList.toggle("is-folded", isFolded);
}

const folded = foldedSections();
for (const button of document.querySelectorAll(".section-toggle")) {
  apply(button, folded);
  button.addEventListener("click", () => {
    const section = button.dataset.section;
    if (folded.has(section)) folded.delete(section);
    else folded.add(section);
    remember(folded);
    apply(button, folded);
  });
}
