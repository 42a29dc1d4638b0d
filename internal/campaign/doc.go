// Package campaign is a seeded fault campaign, in the manner of
// FoundationDB's simulation and Jepsen: each seed draws a scenario (1 to 3
// `issuer run` instances, 1 to 4 batches with random guards, the
// simulator's faults, the hidden limit collapsing and recovering, stocks
// paused, stopped or exhausted mid-run, operator acts at random moments,
// instances killed with SIGKILL, a PostgreSQL restart), plays it against
// real processes, a real PostgreSQL of its own (dbtest.NewCluster) and the
// simulator (a real HTTP server), lets everything come to rest, and checks
// every money invariant (Check).
//
// A scenario is a pure function of its seed (Generate) and prints as one
// line of JSON, so a failure explains itself; the interleaving of real
// processes is not reproducible, so a seed that failed once is run again a
// few times. The entry point is TestCampaign: `make test` runs a handful of
// fixed seeds, `make campaign SEED=S` one seed and `make campaign N=200`
// many, with a table of what was checked and what failed.
//
// What the campaign records beside the product, in its own database only:
// a log of every claim (campaign_claims: which out_request_no was leased
// when) and of every change of a batch's status or guards, stamped when the
// change commits (campaign_batch_states). They let Check say precisely
// whether a coupon's send was claimed while its batch could be claimed.
package campaign
