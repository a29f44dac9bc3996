package ring

// mt19937 is the 32-bit Mersenne Twister of C++'s std::mt19937, which
// Envoy's bounded-load walk seeds with the request hash; Go has no
// standard equivalent, and the walk must match Envoy's draw for draw.
type mt19937 struct {
	state [624]uint32
	i     int
}

func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{i: 624}
	m.state[0] = seed
	for i := 1; i < 624; i++ {
		prev := m.state[i-1]
		m.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	return m
}

func (m *mt19937) next() uint32 {
	if m.i >= 624 {
		for k := 0; k < 624; k++ {
			y := m.state[k]&0x80000000 | m.state[(k+1)%624]&0x7fffffff
			v := m.state[(k+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.state[k] = v
		}
		m.i = 0
	}
	y := m.state[m.i]
	m.i++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// uniform is Envoy's uniform_int: rejection sampling on random()/(2^32/k).
func (m *mt19937) uniform(k uint32) uint32 {
	x := k
	for x >= k {
		x = uint32(uint64(m.next()) / ((uint64(0xffffffff) + 1) / uint64(k)))
	}
	return x
}
