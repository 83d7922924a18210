// `path:line` citations in model output: the parser lives in core/citations.ts (the @thinklens chat
// participant in src/ uses it too); the Answer webview imports it from here.
export { findCitations, splitCitations, parseCitationTarget, type Citation } from '../../core/citations';
