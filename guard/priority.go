package guard

// Priority orders the claim: a batch of higher priority is claimed first,
// and batches of equal priority take turns row by row, so a small urgent
// list is not stuck behind a huge one (queue.Claim orders its candidates
// by priority DESC, then each batch's turn). 0 is the default; an
// operator changes it later (queue.SetPriority).
type Priority int

// store sets the priority's column.
func (p Priority) store(c *columns) { c.set("priority", int(p)) }
