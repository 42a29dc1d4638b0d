package intake

import "hash/maphash"

// fingerprints is a set of 32-bit openid fingerprints in an open-addressing
// table: 4 to 11 bytes a distinct openid instead of the openid itself. Two
// openids can share a fingerprint, so "seen" means "probably seen" and the
// caller settles those lines exactly; with a million openids about one new
// openid in 4,000 is taken for a repeat at first.
type fingerprints struct {
	seed  maphash.Seed
	mask  uint32   // of the hash bits kept; tests keep few to force collisions
	slots []uint32 // 0 = empty
	n     int
}

func newFingerprints() *fingerprints {
	return &fingerprints{seed: maphash.MakeSeed(), mask: ^uint32(0), slots: make([]uint32, 1<<12)}
}

// add adds openid's fingerprint and reports whether it was new.
func (f *fingerprints) add(openid string) bool {
	fp := uint32(maphash.String(f.seed, openid)>>32) & f.mask
	if fp == 0 {
		fp = f.mask + 1 // never stored otherwise: 0 marks an empty slot
	}
	if !f.insert(fp) {
		return false
	}
	f.n++
	if f.n*4 > len(f.slots)*3 {
		old := f.slots
		f.slots = make([]uint32, 2*len(old))
		for _, x := range old {
			if x != 0 {
				f.insert(x)
			}
		}
	}
	return true
}

func (f *fingerprints) insert(fp uint32) bool {
	mask := uint32(len(f.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch f.slots[i] {
		case 0:
			f.slots[i] = fp
			return true
		case fp:
			return false
		}
	}
}
