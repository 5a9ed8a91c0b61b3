import { describe, expect, it } from 'vitest';
import { needsApproval } from '../../domain/deprovision-guard';

// When a reconcile stops for a person before deactivating users.

describe('the deprovision guard', () => {
  const guard = { share: 0.2, minimum: 10 };

  it('stops a run that deactivates more than the share of active users, and at least the minimum', () => {
    expect(needsApproval({ dryRun: false, deactivate: 21, activeUsers: 100 }, guard)).toBe(true);
    expect(needsApproval({ dryRun: false, deactivate: 10, activeUsers: 10 }, guard)).toBe(true);
  });

  it('lets a run through that deactivates exactly the share', () => {
    expect(needsApproval({ dryRun: false, deactivate: 20, activeUsers: 100 }, guard)).toBe(false);
  });

  it('lets a run through that deactivates fewer than the minimum, whatever the share', () => {
    expect(needsApproval({ dryRun: false, deactivate: 9, activeUsers: 9 }, guard)).toBe(false);
    expect(needsApproval({ dryRun: false, deactivate: 0, activeUsers: 0 }, guard)).toBe(false);
  });

  it('never stops a dry run: it only shows its plan', () => {
    expect(needsApproval({ dryRun: true, deactivate: 500, activeUsers: 500 }, guard)).toBe(false);
  });

  it('follows the configured share and minimum', () => {
    expect(needsApproval({ dryRun: false, deactivate: 3, activeUsers: 5 }, { share: 0.5, minimum: 3 })).toBe(true);
    expect(needsApproval({ dryRun: false, deactivate: 3, activeUsers: 6 }, { share: 0.5, minimum: 3 })).toBe(false);
    expect(needsApproval({ dryRun: false, deactivate: 1, activeUsers: 1 }, { share: 0, minimum: 1 })).toBe(true);
  });
});
