package report

// ProblemKind reads a problem kind back from its label on the Problems
// sheet.
func ProblemKind(label string) string {
	for _, k := range problemKinds {
		if problemKindZh(k) == label {
			return k
		}
	}
	return label
}
