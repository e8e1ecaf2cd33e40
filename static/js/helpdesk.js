// The help-desk pages (templates/helpdesk/page.html): askers ask and follow their tickets
// (mode "ask"); agents work the queue (mode "agent"): claim, assign, reply, internal notes,
// canned replies, states. Everything goes through /api/v1/helpdesk/...; the socket's
// `helpdesk.ticket` and `helpdesk.entry` pushes keep the list and the open ticket live (the
// server never sends internal notes to askers).

import { api, ApiError } from "./api.js";
import { on } from "./bus.js";
import { byId, h } from "./dom.js";
import { gettext, interpolate } from "./i18n.js";
import * as socket from "./socket.js";

const root = byId("app");
const mode = root.dataset.mode;
const userId = Number(root.dataset.userId);

const STATE_LABELS = {
  open: gettext("Open"),
  pending: gettext("Pending"),
  solved: gettext("Solved"),
  closed: gettext("Closed"),
};
const KIND_LABELS = {
  question: gettext("Question"),
  bot: gettext("Answer from the knowledge base"),
  agent: gettext("Agent"),
  note: gettext("Internal note (agents only)"),
  system: gettext("Help desk"),
};

let desks = [];
let tickets = [];
let current = null; // {ticket, entries, as_agent}
let agents = [];

function showError(error) {
  const element = byId("helpdesk-error");
  element.textContent = error instanceof ApiError ? error.message : String(error);
  element.hidden = false;
}

function clearError() {
  byId("helpdesk-error").hidden = true;
}

async function run(action) {
  clearError();
  try {
    return await action();
  } catch (error) {
    showError(error);
    return null;
  }
}

// --- the ticket list ---------------------------------------------------------------------------

function ticketLabel(ticket) {
  const waiting = ticket.needs_agent && ticket.assignee_id === null ? ` · ${gettext("waiting for an agent")}` : "";
  return `${STATE_LABELS[ticket.state] ?? ticket.state}${waiting}`;
}

function renderList() {
  const list = byId("helpdesk-tickets");
  list.replaceChildren(
    ...tickets.map((ticket) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            dataset: { ticketId: ticket.id },
            "aria-current": current?.ticket.id === ticket.id ? "true" : "false",
          },
          h("strong", { text: ticket.subject }),
          h("br"),
          h("span", { class: "muted", text: ticketLabel(ticket) }),
        ),
      ),
    ),
  );
  if (!tickets.length) list.append(h("li", { class: "muted", text: gettext("No tickets.") }));
}

async function loadList() {
  if (mode === "agent") {
    const deskId = byId("helpdesk-desk").value;
    if (!deskId) return;
    tickets = await api.get("helpdesk/tickets/", { helpdesk_id: deskId, view: byId("helpdesk-view").value });
  } else {
    tickets = await api.get("helpdesk/tickets/");
  }
  renderList();
}

// --- one ticket ----------------------------------------------------------------------------------

function agentName(id) {
  const agent = agents.find((a) => a.id === id);
  return agent ? agent.display_name || agent.username : `#${id}`;
}

function renderEntry(entry) {
  const meta = h("span", { class: "helpdesk-entry-meta", text: KIND_LABELS[entry.kind] ?? entry.kind });
  if (entry.kind === "bot" && entry.confidence !== null) {
    meta.append(` · ${interpolate(gettext("confidence %s%%"), [Math.round(entry.confidence * 100)])}`);
  }
  if (entry.ai_generated) {
    // The same label as the assistant's messages (static/js/assistant.js).
    meta.append(
      " ",
      h("span", {
        class: "badge badge--ai",
        title: gettext("Written by the language model from the cited knowledge-base passages. Check them."),
        text: gettext("AI-generated"),
      }),
    );
  }
  const item = h("li", { class: "helpdesk-entry", dataset: { kind: entry.kind, entryId: entry.id } }, meta, entry.body);
  if (entry.citations?.length) {
    item.append(
      h("span", { class: "helpdesk-entry-meta", text: gettext("Sources:") }),
      h(
        "ol",
        { class: "helpdesk-citations" },
        ...entry.citations.map((citation) =>
          h("li", { title: citation.text }, citation.title, citation.position ? ` (§${citation.position + 1})` : ""),
        ),
      ),
    );
  }
  return item;
}

function renderTicket() {
  const main = byId("helpdesk-ticket");
  if (!current) {
    main.hidden = true;
    return;
  }
  const { ticket, entries } = current;
  main.hidden = false;
  byId("helpdesk-subject").textContent = ticket.subject;
  byId("helpdesk-state").textContent = STATE_LABELS[ticket.state] ?? ticket.state;
  byId("helpdesk-assignee").textContent =
    ticket.assignee_id !== null
      ? interpolate(gettext("Assigned to %s"), [agentName(ticket.assignee_id)])
      : ticket.needs_agent
        ? gettext("Waiting for an agent")
        : "";
  byId("helpdesk-entries").replaceChildren(...entries.map(renderEntry));
  const closed = ticket.state === "closed";
  byId("helpdesk-reply").hidden = closed;
  if (mode === "agent") {
    byId("helpdesk-claim").hidden = ticket.assignee_id !== null;
    byId("helpdesk-assign").value = ticket.assignee_id === null ? "" : String(ticket.assignee_id);
    byId("helpdesk-set-state").value = ticket.state;
  } else {
    byId("helpdesk-handover").hidden = ticket.needs_agent || closed;
    byId("helpdesk-solved").hidden = ticket.state === "solved" || closed;
    byId("helpdesk-rate").hidden = !["solved", "closed"].includes(ticket.state);
  }
  renderList();
}

async function openTicket(ticketId) {
  current = await api.get(`helpdesk/tickets/${ticketId}/`);
  if (mode === "agent" && current.as_agent) await loadDeskTools(current.ticket.helpdesk_id);
  renderTicket();
}

function replaceTicket(ticket) {
  const index = tickets.findIndex((t) => t.id === ticket.id);
  if (index >= 0) tickets[index] = ticket;
  else if (mode === "ask" && ticket.asker_id === userId) tickets.unshift(ticket);
  if (current?.ticket.id === ticket.id) current.ticket = ticket;
}

// --- agent tools ---------------------------------------------------------------------------------

let toolsFor = null;

async function loadDeskTools(deskId) {
  if (toolsFor === deskId) return;
  toolsFor = deskId;
  const [agentList, canned] = await Promise.all([
    api.get(`helpdesk/desks/${deskId}/agents/`),
    api.get(`helpdesk/desks/${deskId}/canned-replies/`),
  ]);
  agents = agentList;
  byId("helpdesk-assign").replaceChildren(
    h("option", { value: "", text: gettext("Nobody (back to the queue)") }),
    ...agents.map((agent) => h("option", { value: agent.id, text: agent.display_name || agent.username })),
  );
  byId("helpdesk-canned").replaceChildren(
    h("option", { value: "", text: gettext("Insert a canned reply…") }),
    ...canned.map((reply) => h("option", { value: reply.body, text: reply.title })),
  );
}

// --- wiring --------------------------------------------------------------------------------------

function wire() {
  byId("helpdesk-tickets").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-ticket-id]");
    if (button) run(() => openTicket(Number(button.dataset.ticketId)));
  });
  byId("helpdesk-reply").addEventListener("submit", (event) => {
    event.preventDefault();
    const textarea = byId("helpdesk-reply-body");
    const body = textarea.value.trim();
    if (!body || !current) return;
    const note = event.submitter?.dataset.kind === "note";
    run(async () => {
      const id = current.ticket.id;
      if (note) await api.post(`helpdesk/tickets/${id}/notes/`, { body });
      else await api.post(`helpdesk/tickets/${id}/entries/`, { body });
      textarea.value = "";
      await openTicket(id);
    });
  });
  if (mode === "agent") {
    byId("helpdesk-desk").addEventListener("change", () => run(loadList));
    byId("helpdesk-view").addEventListener("change", () => run(loadList));
    byId("helpdesk-claim").addEventListener("click", () =>
      run(async () => {
        replaceTicket(await api.post(`helpdesk/tickets/${current.ticket.id}/claim/`));
        renderTicket();
      }),
    );
    byId("helpdesk-assign").addEventListener("change", (event) =>
      run(async () => {
        const value = event.target.value;
        replaceTicket(
          await api.post(`helpdesk/tickets/${current.ticket.id}/assign/`, {
            assignee_id: value ? Number(value) : null,
          }),
        );
        renderTicket();
      }),
    );
    byId("helpdesk-set-state").addEventListener("change", (event) =>
      run(async () => {
        replaceTicket(await api.post(`helpdesk/tickets/${current.ticket.id}/state/`, { state: event.target.value }));
        renderTicket();
      }),
    );
    byId("helpdesk-canned").addEventListener("change", (event) => {
      if (!event.target.value) return;
      const textarea = byId("helpdesk-reply-body");
      textarea.value = textarea.value ? `${textarea.value}\n${event.target.value}` : event.target.value;
      event.target.value = "";
      textarea.focus();
    });
  } else {
    byId("helpdesk-new").addEventListener("submit", (event) => {
      event.preventDefault();
      const question = byId("helpdesk-question");
      run(async () => {
        const detail = await api.post("helpdesk/tickets/", {
          helpdesk_id: Number(byId("helpdesk-desk").value),
          body: question.value,
        });
        question.value = "";
        current = detail;
        replaceTicket(detail.ticket);
        renderTicket();
      });
    });
    byId("helpdesk-handover").addEventListener("click", () =>
      run(async () => openTicket((await api.post(`helpdesk/tickets/${current.ticket.id}/handover/`)).id)),
    );
    byId("helpdesk-solved").addEventListener("click", () =>
      run(async () => {
        replaceTicket(await api.post(`helpdesk/tickets/${current.ticket.id}/state/`, { state: "solved" }));
        renderTicket();
      }),
    );
    byId("helpdesk-rate").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      run(async () => {
        replaceTicket(
          await api.post(`helpdesk/tickets/${current.ticket.id}/rate/`, {
            rating: Number(form.elements.rating.value),
            comment: byId("helpdesk-rate-comment").value,
          }),
        );
        renderTicket();
        form.replaceChildren(h("p", { text: gettext("Thank you for your rating.") }));
      });
    });
  }
}

on("push", (frame) => {
  if (frame.type === "helpdesk.ticket") {
    if (mode === "agent" && String(frame.ticket.helpdesk_id) === byId("helpdesk-desk").value) {
      // The queue's filters decide membership: read it again (one small request).
      run(loadList);
    } else if (mode === "ask" && frame.ticket.asker_id === userId) {
      replaceTicket(frame.ticket);
    }
    if (current?.ticket.id === frame.ticket.id) current.ticket = frame.ticket;
    renderTicket();
  } else if (frame.type === "helpdesk.entry" && current?.ticket.id === frame.entry.ticket_id) {
    if (!current.entries.some((entry) => entry.id === frame.entry.id)) {
      current.entries.push(frame.entry);
      renderTicket();
    }
  }
});
on("socket:open", ({ reconnect } = {}) => {
  // Pushes are hints: after a reconnect, read the list (and the open ticket) again.
  if (reconnect) run(async () => {
    await loadList();
    if (current) await openTicket(current.ticket.id);
  });
});

async function start() {
  wire();
  desks = await api.get("helpdesk/desks/");
  const agentDesks = desks.filter((desk) => desk.is_agent);
  byId("helpdesk-agent-link").hidden = agentDesks.length === 0;
  const choices = mode === "agent" ? agentDesks : desks;
  byId("helpdesk-desk").replaceChildren(...choices.map((desk) => h("option", { value: desk.id, text: desk.name })));
  if (!choices.length) {
    showError(mode === "agent" ? gettext("You are not an agent of any help desk.") : gettext("No help desk is open yet."));
  }
  await loadList();
  socket.connect();
}

run(start);
