// Model output -> DOM, for the Answer panel.
//
// markdown-it parses (raw HTML off, linkify off); this module then builds DOM nodes from its token
// stream itself instead of using markdown-it's HTML renderer, so no string of HTML is ever parsed:
// whatever the model writes can only become text, or one of the few elements listed below.
// Links survive only with an http(s) target or a `path:line` citation target; everything else is
// shown as its text. Images are shown as their alt text (a model must not make the panel fetch).
// `path:line` citations in text and code spans become citation links (handled by the view).

import MarkdownIt from 'markdown-it';
import { parseCitationTarget, splitCitations } from '../shared/citations';
import { el } from '../shared/element';

type Token = ReturnType<typeof md.parse>[number];

const md = new MarkdownIt('default', { html: false, linkify: false, typographer: false });
// markdown-it's own check runs first and drops links we would not render anyway.
md.validateLink = (url: string): boolean => classifyHref(url) !== undefined;

/** Elements a token may become; any other tag is rendered as a neutral span/div. */
const BLOCK_TAGS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);
const INLINE_TAGS = new Set(['em', 'strong', 's']);

export type LinkTarget = { kind: 'external'; href: string } | { kind: 'citation'; path: string; line: number };

/** What a link target may be: an absolute http(s) URL, or a citation such as `src/a.ts:42`. */
export function classifyHref(raw: string): LinkTarget | undefined {
  const target = raw.trim();
  const citation = parseCitationTarget(decodeSafely(target));
  if (citation) return { kind: 'citation', ...citation };
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined; // relative or malformed: nothing sensible to open from a webview
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return { kind: 'external', href: url.href };
}

function decodeSafely(s: string): string {
  try {
    return decodeURI(s);
  } catch {
    return s;
  }
}

export function citationLink(path: string, line: number, text: string): HTMLAnchorElement {
  return el('a', { className: 'citation', attrs: { href: '#', 'data-path': path, 'data-line': line, title: `Open ${path} at line ${line}` } }, text);
}

/** Renders `source` (markdown) into a fresh fragment. */
export function renderMarkdown(source: string): DocumentFragment {
  const root = document.createDocumentFragment();
  renderBlocks(md.parse(source, {}), root);
  return root;
}

function renderBlocks(tokens: Token[], root: Node): void {
  // Paragraphs of tight lists are "hidden": their content goes straight into the list item, so a
  // hidden open token pushes the current parent again.
  const stack: Node[] = [root];
  for (const token of tokens) {
    const parent = stack[stack.length - 1];
    if (token.nesting === 1) {
      if (token.hidden) {
        stack.push(parent);
        continue;
      }
      const node = blockElement(token);
      parent.appendChild(node);
      stack.push(node);
    } else if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
    } else if (token.type === 'inline') {
      renderInline(token.children ?? [], parent);
    } else if (token.type === 'fence' || token.type === 'code_block') {
      const lang = token.info.trim().split(/\s+/)[0].replace(/[^\w+#.-]/g, '');
      parent.appendChild(el('pre', {}, el('code', { className: lang ? `language-${lang}` : undefined }, token.content)));
    } else if (token.type === 'hr') {
      parent.appendChild(el('hr'));
    } else if (token.content) {
      parent.appendChild(document.createTextNode(token.content));
    }
  }
}

function blockElement(token: Token): HTMLElement {
  const tag = BLOCK_TAGS.has(token.tag) ? (token.tag as keyof HTMLElementTagNameMap) : 'div';
  const node = el(tag);
  if (tag === 'ol') {
    const raw = token.attrGet('start');
    const start = raw === null ? 1 : Number(raw);
    if (Number.isInteger(start) && start >= 0 && start !== 1) node.setAttribute('start', String(start));
  }
  if (tag === 'th' || tag === 'td') {
    // markdown-it expresses column alignment as a style attribute, which the CSP forbids: use a class.
    const align = /text-align:\s*(left|right|center)/.exec(String(token.attrGet('style') ?? ''));
    if (align) node.className = `align-${align[1]}`;
  }
  return node;
}

function renderInline(tokens: Token[], root: Node): void {
  const stack: Node[] = [root];
  let linkDepth = 0; // citations are not linked inside a link (anchors cannot nest)
  for (const token of tokens) {
    const parent = stack[stack.length - 1];
    switch (token.type) {
      case 'text':
        appendWithCitations(parent, token.content, linkDepth > 0, null);
        break;
      case 'code_inline':
        appendWithCitations(parent, token.content, linkDepth > 0, 'code');
        break;
      case 'softbreak':
        parent.appendChild(document.createTextNode('\n'));
        break;
      case 'hardbreak':
        parent.appendChild(el('br'));
        break;
      case 'image':
        parent.appendChild(el('span', { className: 'image-alt', attrs: { title: 'image omitted' } }, `[${token.content || 'image'}]`));
        break;
      case 'link_open': {
        const target = classifyHref(String(token.attrGet('href') ?? ''));
        let node: HTMLElement;
        if (target?.kind === 'citation') node = citationLink(target.path, target.line, '');
        else if (target?.kind === 'external') node = el('a', { className: 'external', attrs: { href: target.href, title: target.href, rel: 'noreferrer noopener' } });
        else node = el('span', { className: 'link-dropped' });
        parent.appendChild(node);
        stack.push(node);
        linkDepth++;
        break;
      }
      case 'link_close':
        if (stack.length > 1) stack.pop();
        linkDepth = Math.max(0, linkDepth - 1);
        break;
      default:
        if (token.nesting === 1) {
          const node = el(INLINE_TAGS.has(token.tag) ? (token.tag as 'em' | 'strong' | 's') : 'span');
          parent.appendChild(node);
          stack.push(node);
        } else if (token.nesting === -1) {
          if (stack.length > 1) stack.pop();
        } else if (token.content) {
          // html_inline cannot occur with html:false; anything unforeseen is shown as text.
          parent.appendChild(document.createTextNode(token.content));
        }
    }
  }
}

function appendWithCitations(parent: Node, text: string, insideLink: boolean, wrap: 'code' | null): void {
  const target = wrap ? parent.appendChild(el(wrap)) : parent;
  if (insideLink) {
    target.appendChild(document.createTextNode(text));
    return;
  }
  for (const part of splitCitations(text)) {
    if (typeof part === 'string') target.appendChild(document.createTextNode(part));
    else target.appendChild(citationLink(part.path, part.line, text.slice(part.start, part.end)));
  }
}
