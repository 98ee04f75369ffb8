// The copy engine: plan (probe, validate, choose a method), then copy chunk by chunk with
// truncation re-drive and fallback to the host path, keeping an exact account.
export * from './types';
export { CopyError, compareRanges, copy, planCopy, runPlanned, stopLine, type RunOptions } from './copy';
export { actionOf, classify, copyActionFor, type CopyAction, type Decision } from './reactions';
export { openPair, planPair, DEFAULT_TOKEN_BYTES, DEFAULT_HOST_TRANSFER, DEFAULT_MAX_IN_FLIGHT, type OpenedPair, type PlanDetails } from './plan';
export { clearPairCache, knownFailure, rememberFailure, PAIR_CACHE_TTL_MS } from './pair-cache';
export { Account } from './account';
export { runBatch, BatchRefused, type BatchEntry, type BatchJob, type BatchOptions, type BatchProgress, type BatchResult } from './batch';
export { JournalWriter, readJournal, gaps, JOURNAL_VERSION, type JournalContents, type JournalHeader } from './journal';
export { resume, type ResumeResult } from './resume';
export { copyMany, TokenCache, type CopyManyOptions, type CopyManyResult, type FanOutDestination, type FanOutEntry, type FanOutProgress } from './fanout';
