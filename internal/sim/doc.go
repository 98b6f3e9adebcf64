// Package sim holds ledgerd's deterministic simulation test (sim_test.go):
// a seeded random walk through webhook deliveries (dropped, duplicated,
// reordered, refused while the listener is down), backfill pages,
// reconciliation runs, restarts and Fuse traffic against the in-process
// sandbox on a frozen clock, with the ledger compared at every quiescent
// point to an oracle computed from the sandbox's truth by a plain Go model
// of DESIGN.md's posting table. The package has no code of its own: it
// exists so that the test can import every part of ledgerd without being
// part of any of them.
package sim
