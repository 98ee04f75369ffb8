// Token files (hand a copy to another host) and zeroing, as library functions; the CLI's
// `odxcp token ...` and `odxcp zero` are thin wrappers over these.
export * from './token-ops';
export * from './token-file';
export * from './zero';
