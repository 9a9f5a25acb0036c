package pixelcnn

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"pixelcnn/nn/cpu"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/dist"
)

// labelledSplit is randomSplit with a label (of 2 classes) per image.
func labelledSplit(r *rand.Rand, c Config, n int) data.Split {
	s := randomSplit(r, c, n)
	s.Labels = make([]uint8, n)
	for i := range s.Labels {
		s.Labels[i] = uint8(i % 2)
	}
	return s
}

// shardCase is one model and its options for the shard tests: unconditional with clipping,
// and class-conditional (labels are sharded with their images).
type shardCase struct {
	name  string
	c     Config
	split data.Split
	o     TrainOptions
}

func shardCases() []shardCase {
	c := tinyConfig(1, 5, 5)
	cond := c
	cond.Classes = 2
	o := DefaultTrainOptions()
	o.Batch, o.Clip, o.LR = 8, 0.05, 3e-3
	return []shardCase{
		{"clipped", c, randomSplit(rand.New(rand.NewPCG(5, 5)), c, 40), o},
		{"conditional", cond, labelledSplit(rand.New(rand.NewPCG(6, 6)), cond, 40), o},
	}
}

func newShardTrainer(t *testing.T, tc shardCase, shards int) *Trainer {
	t.Helper()
	m, err := NewModel(cpu.NewWorkers(1), tc.c, 3)
	if err != nil {
		t.Fatal(err)
	}
	o := tc.o
	o.Shards = shards
	tr, err := NewTrainer(m, tc.split, o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// trainSteps runs n steps and returns their losses' bits.
func trainSteps(t *testing.T, tr *Trainer, n int) []uint64 {
	t.Helper()
	var losses []uint64
	for range n {
		bpd, err := tr.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, math.Float64bits(bpd))
	}
	return losses
}

func sameTrainers(t *testing.T, got, want *Trainer) {
	t.Helper()
	sameTensors(t, "weights", paramsHost(t, got.Model), paramsHost(t, want.Model))
	for s := range want.state {
		for i := range want.state[s] {
			sameTensors(t, "optimiser state", [][]float32{hostOf(t, got.Model.B, got.state[s][i])},
				[][]float32{hostOf(t, want.Model.B, want.state[s][i])})
		}
	}
}

// TestOneShardIsThePlainStep: the sharded step with a single shard (forced: Shards 1 takes
// the plain step) gives the plain step's losses, weights and optimiser state bit for bit.
func TestOneShardIsThePlainStep(t *testing.T) {
	for _, tc := range shardCases() {
		t.Run(tc.name, func(t *testing.T) {
			plain, sharded := newShardTrainer(t, tc, 1), newShardTrainer(t, tc, 1)
			if plain.shard != nil {
				t.Fatal("Shards 1 does not take the plain step")
			}
			sharded.shard = newShardStep(sharded, dist.Single{}, 1)
			if got, want := trainSteps(t, sharded, 5), trainSteps(t, plain, 5); !slices.Equal(got, want) {
				t.Fatalf("losses %v, the plain step's %v", got, want)
			}
			sameTrainers(t, sharded, plain)
		})
	}
}

// TestShardsRepeat: two runs with 2 shards give the same bits.
func TestShardsRepeat(t *testing.T) {
	tc := shardCases()[0]
	a, b := newShardTrainer(t, tc, 2), newShardTrainer(t, tc, 2)
	if got, want := trainSteps(t, a, 4), trainSteps(t, b, 4); !slices.Equal(got, want) {
		t.Fatalf("losses %v, then %v", got, want)
	}
	sameTrainers(t, a, b)
}

// TestShardGradientsSumToBatchGradient: the shard gradients of a batch, summed in shard
// order, are the gradient of the mean loss over the whole batch (within float32 rounding:
// the sums over the batch are taken in another order).
func TestShardGradientsSumToBatchGradient(t *testing.T) {
	for _, tc := range shardCases() {
		t.Run(tc.name, func(t *testing.T) {
			full := newShardTrainer(t, tc, 1)
			full.shard = newShardStep(full, dist.Single{}, 1)
			idx := []int{3, 1, 4, 15, 9, 2, 6, 5}
			want := make([]float32, full.gradientLen())
			wantNats, err := full.shardGradient(idx, want)
			if err != nil {
				t.Fatal(err)
			}
			tr := newShardTrainer(t, tc, 4)
			var gotNats float64
			for k := range 4 {
				nats, err := tr.shardGradient(idx[2*k:2*k+2], tr.shard.local[0])
				if err != nil {
					t.Fatal(err)
				}
				tr.shard.local = append(tr.shard.local, slices.Clone(tr.shard.local[0]))
				gotNats += nats
			}
			got := make([]float32, len(want))
			dist.SumInOrder(got, tr.shard.local[1:])
			if math.Abs(gotNats-wantNats) > 1e-9*math.Abs(wantNats) {
				t.Errorf("summed shard losses %v nats, the batch's %v", gotNats, wantNats)
			}
			var maxAbs float64
			for _, v := range want {
				maxAbs = max(maxAbs, math.Abs(float64(v)))
			}
			bad := 0
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*maxAbs+1e-5*math.Abs(float64(want[i])) {
					if bad++; bad <= 10 {
						t.Errorf("gradient %d: shards sum to %v, the batch's is %v", i, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestWorldEqualsShards: 2 ranks (an in-process world) each computing their share of 4
// shards give, on every rank, the bits of one process with 4 shards; so does 4 ranks of 1.
func TestWorldEqualsShards(t *testing.T) {
	tc := shardCases()[1]
	ref := newShardTrainer(t, tc, 4)
	want := trainSteps(t, ref, 4)
	for _, ranks := range []int{2, 4} {
		comms := dist.NewLocal(ranks)
		trainers := make([]*Trainer, ranks)
		for r := range trainers {
			trainers[r] = newShardTrainer(t, tc, 4)
			if err := trainers[r].SetWorld(comms[r]); err != nil {
				t.Fatal(err)
			}
		}
		losses := make([][]uint64, ranks)
		done := make(chan int)
		for r, tr := range trainers {
			go func() {
				for range 4 {
					bpd, err := tr.TrainStep()
					if err != nil {
						t.Error(err)
					}
					losses[r] = append(losses[r], math.Float64bits(bpd))
				}
				done <- r
			}()
		}
		for range ranks {
			<-done
		}
		for r, tr := range trainers {
			if !slices.Equal(losses[r], want) {
				t.Fatalf("%d ranks: rank %d: losses %v, 4 shards in one process %v", ranks, r, losses[r], want)
			}
			sameTrainers(t, tr, ref)
		}
	}
}

func TestShardErrors(t *testing.T) {
	tc := shardCases()[0]
	o := tc.o
	o.Shards = 3 // batch 8
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "not divisible by 3 shards") {
		t.Errorf("batch 8 in 3 shards: %v", err)
	}
	tr := newShardTrainer(t, tc, 4)
	if err := tr.SetWorld(dist.NewLocal(3)[0]); err == nil || !strings.Contains(err.Error(), "4 shards cannot be split evenly over 3 ranks") {
		t.Errorf("4 shards on 3 ranks: %v", err)
	}
}
