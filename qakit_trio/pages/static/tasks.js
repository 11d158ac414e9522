// The task tree, from GET /debug/tasks. Above 20 tasks of one kind in one nursery, the server
// sends a group with a count; "show all" asks for that kind in full (?expand=KIND).
"use strict";

(async () => {
  const {el} = Stand;
  const $ = (id) => document.getElementById(id);
  await Stand.header("/tasks");
  const expanded = new Set();

  function taskNode(task) {
    const node = el("li", {class: `task ${task.kind}`, "data-kind": task.kind},
      el("a", {class: "kind", href: task.doc, text: task.kind,
               i18nAttr: {title: "tasks.kindTitle"}}),
      el("span", {class: "label", text: task.label}),
      el("span", {class: "name", text: task.name}));
    for (const nursery of task.nurseries) {
      const list = el("ul");
      for (const child of nursery.tasks) list.append(child.group ? groupNode(child) : taskNode(child));
      node.append(el("div", {class: "nursery", i18n: "tasks.nursery",
                             args: {n: nursery.tasks.length}}), list);
    }
    return node;
  }

  function groupNode(group) {
    const list = el("ul");
    for (const child of group.tasks) list.append(taskNode(child));
    return el("li", {class: "groupnode", "data-kind": group.group},
      el("a", {class: "kind", href: group.doc, text: group.group}),
      " ", el("b", {i18n: "tasks.count", args: {n: group.count}}),
      " ", el("span", {class: "muted", i18n: "tasks.firstShown", args: {n: group.shown}}), " ",
      el("button", {i18n: "tasks.showAll",
                    onclick: () => { expanded.add(group.group); load(); }}),
      list);
  }

  let loading = false;  // one read at a time: a slow answer is not asked for again meanwhile
  async function load() {
    if (loading) return;
    loading = true;
    const query = expanded.size ? `?expand=${[...expanded].join(",")}` : "";
    try {
      const tree = await Stand.getJSON(`/debug/tasks${query}`, {teacher: true});
      $("tree").replaceChildren(el("ul", {}, taskNode(tree.root)));
      Stand.tr($("summary"), "tasks.summary", {n: tree.tasks, time: Stand.clock()});
      // each kind with its count; a click scrolls to its first task
      $("kinds").replaceChildren(...Object.entries(tree.by_kind).map(([kind, count]) =>
        el("button", {"data-kind-count": kind, text: `${kind}: ${count}`, onclick: () => {
          const first = document.querySelector(`#tree [data-kind="${kind}"]`);
          if (first) first.scrollIntoView({block: "center"});
        }})));
    } catch (error) {
      Stand.tr($("summary"), "tasks.failed", {error: String(error)});
    } finally {
      loading = false;
    }
  }
  $("refresh").addEventListener("click", load);
  setInterval(() => { if ($("live").checked) load(); }, 1000);
  load();
})();
