// The one way the webviews create DOM: elements with attributes and text set through the DOM API.
// No string of HTML is ever parsed, so nothing that reaches these helpers (model output, file
// paths, error messages) can become markup.

export type Child = Node | string | null | undefined | false;

export interface ElementProps {
  className?: string;
  /** Plain attributes (set with setAttribute; `style` is refused: the CSP forbids inline styles). */
  attrs?: Record<string, string | number | boolean | undefined>;
  /** CSS custom properties, set through the CSSOM (allowed under the CSP, unlike style attributes). */
  vars?: Record<string, string | number>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: ElementProps = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === undefined || value === false) continue;
    if (name === 'style' || name.startsWith('on')) throw new Error(`el: attribute "${name}" is not allowed`);
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [name, value] of Object.entries(props.vars ?? {})) node.style.setProperty(`--${name}`, String(value));
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** The element with this id, or a clear error naming it (a missing id is a bug in the view). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`webview: element #${id} is missing`);
  return node as T;
}

/** A `<dt>label</dt><dd data-stat=key>–</dd>` pair for a stats list; fill it in with setStat. */
export function stat(label: string, key: string): HTMLElement[] {
  return [el('dt', {}, label), el('dd', { attrs: { 'data-stat': key } }, '–')];
}

/** Sets the text of the `[data-stat=key]` element, touching the DOM only when it changes. */
export function setStat(key: string, text: string): void {
  const node = document.querySelector(`[data-stat="${key}"]`);
  if (node && node.textContent !== text) node.textContent = text;
}
