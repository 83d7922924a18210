// Brings a live DOM subtree in line with a freshly built one, touching only what differs.
// The Answer panel re-renders the whole markdown on every streamed token; morphing instead of
// replacing keeps the unchanged blocks as the same nodes, so nothing flickers, a text selection in
// earlier paragraphs survives, and only the growing tail is rewritten.

export function morphChildren(live: Node, next: Node): void {
  const nextChildren = Array.from(next.childNodes);
  for (let i = 0; i < nextChildren.length; i++) {
    const want = nextChildren[i];
    const have = live.childNodes[i];
    if (!have) {
      live.appendChild(want);
    } else if (have.nodeType !== want.nodeType || have.nodeName !== want.nodeName) {
      live.replaceChild(want, have);
    } else if (have.nodeType === Node.TEXT_NODE) {
      if (have.nodeValue !== want.nodeValue) have.nodeValue = want.nodeValue;
    } else if (have.nodeType === Node.ELEMENT_NODE) {
      syncAttributes(have as Element, want as Element);
      morphChildren(have, want);
    } else {
      live.replaceChild(want, have);
    }
  }
  while (live.childNodes.length > nextChildren.length) live.removeChild(live.lastChild!);
}

function syncAttributes(have: Element, want: Element): void {
  for (const { name } of Array.from(have.attributes)) {
    if (!want.hasAttribute(name)) have.removeAttribute(name);
  }
  for (const { name, value } of Array.from(want.attributes)) {
    if (have.getAttribute(name) !== value) have.setAttribute(name, value);
  }
}
