package queue

import "github.com/lib/pq"

func int64Array(a []int64) any {
	if a == nil {
		a = []int64{}
	}
	return pq.Int64Array(a)
}

func stringArray(a []string) any {
	if a == nil {
		a = []string{}
	}
	return pq.StringArray(a)
}
