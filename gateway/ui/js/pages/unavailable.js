// Menu items whose features are not built yet: said plainly, with no sample data.

import { h } from "../dom.js";
import { pageHead } from "../components.js";

const TITLES = {
  pay: "Pay",
  link: "Link",
  forms: "Forms",
  docs: "Docs",
  invoice: "Invoice",
  bulk: "Bulk Messaging",
  agent: "Agent",
};

export function unavailablePage(ctx) {
  const title = TITLES[ctx.params[0]] || "This page";
  return h("section", null,
    pageHead(title),
    h("div", { class: "panel" },
      h("p", { text: `${title} is not available yet.` }),
      h("p", { class: "muted", text: "This part of WECARE.DIGITAL has not been built. Nothing here is live, and no data is shown." })));
}
