// Package pages is the console's batch, upload, reconciliation,
// operations and stock pages and the HTTP API under /api/v1 for batches, uploads,
// reports and rows in review.
//
// It parses requests, calls the operations layer (package ops) with the
// actor package console put in the request context, and renders the
// answer: JSON for /api/…, html/template pages inside the console's
// layout otherwise. It owns no business rule and no SQL: what may be done,
// by whom, and what is recorded in the audit log is decided in ops. It
// owns the uploads in transit: a file is streamed to a temporary file on
// disk (never held whole in memory), checked by a dry run, and kept under
// a random token until the person who uploaded it creates the batch or
// drops it.
//
// # Routes
//
//	GET  /batches                      list with filters and paging
//	GET  /batches/{id}                 one batch: live progress, actions, lookup, review
//	POST /batches/{id}/pause|resume|cancel|approve|reject|settle
//	GET  /upload, POST /upload         upload: dry run first
//	POST /upload/{token}/create|drop   then create the batch or drop the file
//	GET  /upload/{token}/rejects.csv   the dry run's rejected lines
//	GET  /reconciliation               per stock and batch
//	GET  /operations                   instances, job runs, rows in review
//	POST /reconciliation/fetch         operator: fetch flow files now (stock=ID optional)
//	GET  /stocks, /stocks/{id}         代金券 stocks at WeChat Pay
//	POST /stocks/{id}/start|pause|restart|stop
//	GET  /coupons                      ?openid=&stock=: a user's coupons
//
//	GET  /api/v1/batches                    ?status=&stock=&from=&to=&before_id=&limit= (default 100; Link: rel="next")
//	POST /api/v1/batches                    multipart upload (the import --json object)
//	GET  /api/v1/batches/{id}
//	POST /api/v1/batches/{id}/pause|resume|cancel|approve|reject
//	PATCH /api/v1/batches/{id}/guards      {"max_amount_yuan","window","start_at","priority"}, null clears
//	GET  /api/v1/batches/{id}/export        the batch export CSV
//	GET  /api/v1/batches/{id}/recipients    ?openid=
//	GET  /api/v1/batches/{id}/progress
//	GET  /api/v1/batches/{id}/report        ?format=xlsx|csv|text
//	GET  /api/v1/reconcile/report           ?format=…&stock=
//	GET  /api/v1/review                     ?batch=
//	POST /api/v1/review/resolve             {"batch":ID} or batch=ID; 0 or absent for all
//	GET  /api/v1/stocks                     ?status=&limit=: the stock list --json array
//	GET  /api/v1/stocks/{id}                the stock show --json object
//	POST /api/v1/stocks/{id}/start|pause|restart|stop
//	GET  /api/v1/coupons                    ?openid=&stock=: the coupons --json array
//	POST /api/v1/reconcile                  {"stock","date"}, both optional: fetch flow files now
package pages
