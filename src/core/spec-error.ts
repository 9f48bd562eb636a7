/** One problem found while validating user input, located by a dotted path. */
export interface SpecIssue {
  path: string;
  message: string;
}

/**
 * Validation failure of user-supplied configuration (routes, declarative files, flags).
 * Carries every issue so a user fixes them all in one go.
 */
export class SpecError extends Error {
  readonly issues: readonly SpecIssue[];
  constructor(issues: readonly SpecIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
    this.name = 'SpecError';
    this.issues = issues;
  }
}
