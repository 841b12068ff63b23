"""What must always hold in the ledger, checked by every wallet test after each step and by
`livequiz wallet check` (exit status 1 on any violation).

Each rule is one read-only SQL query that returns the offending rows; an empty result is a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

#: rule name → a query returning one row per violation.
RULES: dict[str, str] = {
    # Every transaction's entries sum to zero, and it has at least two entries.
    "transaction_unbalanced": (
        "SELECT transaction_id, SUM(amount) FROM wallet_entries GROUP BY transaction_id HAVING SUM(amount) <> 0"
    ),
    "transaction_without_entries": (
        "SELECT t.id, COUNT(e.id) FROM wallet_transactions t LEFT JOIN wallet_entries e ON e.transaction_id = t.id "
        "GROUP BY t.id HAVING COUNT(e.id) < 2"
    ),
    # The sum of all entries is zero: no so'm made or lost.
    "ledger_not_zero": "SELECT SUM(amount) FROM wallet_entries HAVING SUM(amount) <> 0",
    # A user balance is never negative, and equals the sum of its entries.
    "balance_negative": (
        "SELECT key, balance FROM wallet_accounts WHERE user_id IS NOT NULL AND (balance IS NULL OR balance < 0)"
    ),
    "balance_not_sum_of_entries": (
        "SELECT a.key, a.balance, COALESCE(SUM(e.amount), 0) FROM wallet_accounts a "
        "LEFT JOIN wallet_entries e ON e.account_id = a.id WHERE a.user_id IS NOT NULL "
        "GROUP BY a.id, a.key, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0)"
    ),
    # ... nor was it ever: every running balance, in posting order, is the recorded one and ≥ 0.
    "running_balance_wrong": (
        "SELECT id, account_id, balance_after, running FROM ("
        " SELECT e.id, e.account_id, e.balance_after,"
        " SUM(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id ROWS UNBOUNDED PRECEDING) AS running"
        " FROM wallet_entries e JOIN wallet_accounts a ON a.id = e.account_id WHERE a.user_id IS NOT NULL"
        ") r WHERE running < 0 OR balance_after IS NULL OR balance_after <> running"
    ),
    # A held amount is released or paid exactly once: pending ⇔ no decision; the hold put the
    # amount on held and the decision took exactly it off; nothing else touches held; held is
    # the sum of the pending withdrawals.
    "withdrawal_decision_state": (
        "SELECT id, status FROM wallet_withdrawals WHERE (status = 'pending') <> (decision_transaction_id IS NULL)"
    ),
    "withdrawal_hold_amount": (
        "SELECT w.id, w.amount, e.amount FROM wallet_withdrawals w "
        "JOIN wallet_accounts a ON a.user_id = w.user_id AND a.kind = 'held' "
        "LEFT JOIN wallet_entries e ON e.transaction_id = w.hold_transaction_id AND e.account_id = a.id "
        "WHERE e.amount IS NULL OR e.amount <> w.amount"
    ),
    "withdrawal_release_amount": (
        "SELECT w.id, w.amount, e.amount FROM wallet_withdrawals w "
        "JOIN wallet_accounts a ON a.user_id = w.user_id AND a.kind = 'held' "
        "LEFT JOIN wallet_entries e ON e.transaction_id = w.decision_transaction_id AND e.account_id = a.id "
        "WHERE w.decision_transaction_id IS NOT NULL AND (e.amount IS NULL OR e.amount <> -w.amount)"
    ),
    "held_touched_outside_withdrawals": (
        "SELECT e.id FROM wallet_entries e JOIN wallet_accounts a ON a.id = e.account_id AND a.kind = 'held' "
        "WHERE e.transaction_id NOT IN (SELECT hold_transaction_id FROM wallet_withdrawals) "
        "AND e.transaction_id NOT IN (SELECT decision_transaction_id FROM wallet_withdrawals "
        "WHERE decision_transaction_id IS NOT NULL)"
    ),
    "held_not_pending_sum": (
        "SELECT a.key, a.balance FROM wallet_accounts a WHERE a.kind = 'held' AND a.user_id IS NOT NULL "
        "AND a.balance <> (SELECT COALESCE(SUM(w.amount), 0) FROM wallet_withdrawals w "
        "WHERE w.user_id = a.user_id AND w.status = 'pending')"
    ),
    # A top-up credits main exactly once, and only when confirmed, with its own amount.
    "topup_credit": (
        "SELECT t.id, t.status FROM wallet_topups t LEFT JOIN wallet_transactions x ON x.id = t.transaction_id "
        "WHERE (t.status = 'confirmed') <> (t.transaction_id IS NOT NULL) "
        "OR (x.id IS NOT NULL AND x.amount <> t.amount)"
    ),
    "topup_transaction_orphan": (
        "SELECT x.id FROM wallet_transactions x WHERE x.kind = 'topup' "
        "AND x.id NOT IN (SELECT transaction_id FROM wallet_topups WHERE transaction_id IS NOT NULL)"
    ),
    # The tax a transaction states is what reached the tax account.
    "tax_mismatch": (
        "SELECT t.id, t.tax FROM wallet_transactions t WHERE t.tax <> COALESCE("
        "(SELECT SUM(e.amount) FROM wallet_entries e JOIN wallet_accounts a ON a.id = e.account_id "
        "WHERE e.transaction_id = t.id AND a.key = 'sys:tax'), 0)"
    ),
    # A deleted account keeps no money (forfeited at deletion).
    "deleted_user_has_balance": (
        "SELECT a.key, a.balance FROM wallet_accounts a JOIN users u ON u.id = a.user_id "
        "WHERE u.deleted_at IS NOT NULL AND a.balance <> 0"
    ),
}


@dataclass
class Report:
    transactions: int = 0
    entries: int = 0
    violations: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def describe(self) -> str:
        if self.ok:
            return f"wallet ok: {self.transactions} transactions, {self.entries} entries, every invariant holds"
        lines = [f"wallet BROKEN: {len(self.violations)} rule(s) violated"]
        for rule, rows in self.violations.items():
            lines.append(f"  {rule}: {len(rows)} row(s), e.g. {rows[:5]}")
        return "\n".join(lines)


#: One statement for a sound ledger: the totals, then each rule's query counted (in `RULES`'
#: order), so checking costs one round trip rather than one per rule; only a rule found broken
#: runs its own query again, for the rows to show.
_COUNTS = "SELECT (SELECT COUNT(*) FROM wallet_transactions), (SELECT COUNT(*) FROM wallet_entries), " + ", ".join(
    f"(SELECT COUNT(*) FROM ({query}) AS rule_{index})" for index, query in enumerate(RULES.values())
)


async def _rows(session: AsyncSession, query: str) -> list[tuple[object, ...]]:
    result = await session.exec(text(query))  # type: ignore[call-overload]
    return [tuple(row) for row in result.all()]


async def check(session: AsyncSession) -> Report:
    result = await session.exec(text(_COUNTS))  # type: ignore[call-overload]
    transactions, entries, *broken = (int(count) for count in result.one())
    report = Report(transactions, entries)
    for (rule, query), violations in zip(RULES.items(), broken, strict=True):
        if violations:
            rows = await _rows(session, query)
            if rows:  # empty if a writer fixed it in between: as if checked a moment later
                report.violations[rule] = rows
    return report
