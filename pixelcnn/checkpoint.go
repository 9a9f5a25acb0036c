package pixelcnn

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"pixelcnn/nn"
	"pixelcnn/pixelcnn/data"
	"pixelcnn/pixelcnn/safetensors"
)

// Checkpoint format tags in the safetensors metadata. v2 records the architecture in the
// config (arch, dilations, classes); a v1 file is always the seed architecture, unconditional.
const (
	FormatV1 = "pixelcnn/v1"
	FormatV2 = "pixelcnn/v2"
)

// TrainState is what a checkpoint needs beyond the weights to continue training exactly.
type TrainState struct {
	Step    int               `json:"step"`
	LR      float64           `json:"lr"` // the rate the next step uses
	Options TrainOptions      `json:"options"`
	Data    data.BatcherState `json:"data"`
	Dataset string            `json:"dataset,omitempty"`
	// Run is the Trainer's RunID, Device the name of the backend that computed the state
	// (nn.Backend.Name: its kind, ISA, workers or precision); both "" in older files.
	Run    string `json:"run,omitempty"`
	Device string `json:"device,omitempty"`
	// World is the number of processes (ranks) that computed the state; absent: one. Their
	// shards are Options.Shards: a resume on any rank count that divides it goes on exactly.
	World int `json:"world,omitempty"`
}

// Validate checks the numbers of a decoded training state: a step count, a learning rate and
// optimiser settings that a trainer could have written.
func (s *TrainState) Validate() error {
	switch {
	case s.Step < 0:
		return fmt.Errorf("step %d must be >= 0", s.Step)
	case !(s.LR > 0) || math.IsInf(s.LR, 0):
		return fmt.Errorf("lr %v must be a finite number > 0", s.LR)
	case s.World < 0:
		return fmt.Errorf("world %d must be >= 0", s.World)
	}
	if err := s.Options.Validate(); err != nil {
		return fmt.Errorf("options: %w", err)
	}
	if s.Data.Batch != s.Options.Batch {
		return fmt.Errorf("data order is in batches of %d, the options' batch is %d", s.Data.Batch, s.Options.Batch)
	}
	return nil
}

// Checkpoint is a decoded checkpoint: the model and, when it was saved by a trainer, the
// training state and the optimiser slots (PyTorch layout, keyed by full name).
type Checkpoint struct {
	Config Config
	// Precision is the conv precision of the backend that saved it (metadata "precision");
	// "" for checkpoints from before it was recorded. The weights are F32 whatever it is.
	Precision nn.Precision
	// Dataset is the dataset the model was trained on ("" when the file does not say).
	Dataset string
	Train   *TrainState
	Model   *Model
	// Notice is one line for the user when the file could only be partly verified (written
	// before the checksum covered its metadata), "" otherwise. The caller prints it.
	Notice string
	optim  map[string]safetensors.Tensor
}

// Checksum metadata keys. MetaSHA256 is the SHA-256 of everything else in the file
// (safetensors.ContentSHA256 of the tensors and of every other metadata key), so an edit
// to the metadata (an optimiser setting, the step, the config) is caught as well as a
// damaged data byte. Files written before it carry MetaDataSHA256, the SHA-256 of the tensor
// data alone (safetensors.DataSHA256), or, older still, neither; they still load, with a
// Notice.
const (
	MetaSHA256     = "sha256"
	MetaDataSHA256 = "data_sha256"
)

// contentSHA256 is the checksum MetaSHA256 holds: the tensors and every metadata key but
// the checksum's own.
func contentSHA256(tensors []safetensors.Tensor, meta map[string]string) string {
	rest := make(map[string]string, len(meta))
	for k, v := range meta {
		if k != MetaSHA256 {
			rest[k] = v
		}
	}
	return safetensors.ContentSHA256(tensors, rest)
}

// verifyChecksum checks the file's checksum and returns the notice for a file that could
// only be partly verified.
func verifyChecksum(path string, f *safetensors.File) (notice string, err error) {
	if want, ok := f.Metadata[MetaSHA256]; ok {
		if contentSHA256(f.Tensors, f.Metadata) != want {
			return "", fmt.Errorf("checkpoint %s is corrupt: checksum mismatch (its metadata or tensor data changed after it was written)", path)
		}
		return "", nil
	}
	const next = "the next checkpoint written from it will cover both"
	if want, ok := f.Metadata[MetaDataSHA256]; ok {
		if safetensors.DataSHA256(f.Tensors) != want {
			return "", fmt.Errorf("checkpoint %s is corrupt: data checksum mismatch (the tensor data changed after it was written)", path)
		}
		return fmt.Sprintf("note: checkpoint %s is from before the checksum covered the metadata: its tensor data is verified, its metadata (config, step, optimiser settings) is not; %s", path, next), nil
	}
	return fmt.Sprintf("note: checkpoint %s is from before checkpoints carried a checksum: neither its tensor data nor its metadata can be verified; %s", path, next), nil
}

// toTorch converts [KH,K,In,Out] weights to PyTorch's [Out,In,KH,K].
func toTorch(w []float32, s nn.ConvSpec) []float32 {
	t := make([]float32, len(w))
	eachWeight(s, func(ours, torch int) { t[torch] = w[ours] })
	return t
}

// fromTorch converts PyTorch's [Out,In,KH,K] weights to [KH,K,In,Out].
func fromTorch(t []float32, s nn.ConvSpec) []float32 {
	w := make([]float32, len(t))
	eachWeight(s, func(ours, torch int) { w[ours] = t[torch] })
	return w
}

// eachWeight calls f with every weight's index in our layout and in PyTorch's.
func eachWeight(s nn.ConvSpec, f func(ours, torch int)) {
	kh, k, in, out := s.KH(), s.K, s.In, s.Out
	for ky := 0; ky < kh; ky++ {
		for kx := 0; kx < k; kx++ {
			for i := 0; i < in; i++ {
				for o := 0; o < out; o++ {
					f(((ky*k+kx)*in+i)*out+o, ((o*in+i)*kh+ky)*k+kx)
				}
			}
		}
	}
}

func torchShape(s nn.ConvSpec) []int { return []int{s.Out, s.In, s.KH(), s.K} }

// storedShape is a parameter's shape in a checkpoint: PyTorch's for a conv weight, its own
// otherwise.
func (p param) storedShape() []int {
	if p.conv != nil {
		return torchShape(*p.conv)
	}
	return p.v.Value.Shape
}

func (m *Model) host(t *nn.Tensor) ([]float32, error) {
	out := make([]float32, t.Len())
	return out, m.B.ToHost(out, t)
}

// paramTensors lists the model's parameters (and, with tr, the optimiser slots) as
// safetensors tensors in PyTorch layout.
func (m *Model) paramTensors(tr *Trainer) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	add := func(name string, p param, t *nn.Tensor) error {
		h, err := m.host(t)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if p.conv != nil {
			h = toTorch(h, *p.conv)
		}
		out = append(out, safetensors.Tensor{Name: name, Shape: p.storedShape(), Data: h})
		return nil
	}
	ps := m.params()
	for i, p := range ps {
		v := p.v.Value
		if tr != nil && tr.avg != nil {
			v = tr.avg[i] // the average is the model; the trained weights go with the optimiser
		}
		if err := add(p.name, p, v); err != nil {
			return nil, err
		}
	}
	if tr == nil {
		return out, nil
	}
	if tr.avg != nil {
		for _, p := range ps {
			if err := add(WeightsPrefix+p.name, p, p.v.Value); err != nil {
				return nil, err
			}
		}
	}
	for slot, prefix := range tr.StateNames() {
		for i, p := range ps {
			if err := add(prefix+p.name, p, tr.state[slot][i]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Save writes the model (and, with tr, everything needed to resume training) to path
// atomically: a crash or a full disk leaves any previous file at path intact.
func Save(path string, m *Model, tr *Trainer, dataset string) error {
	tensors, err := m.paramTensors(tr)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	c := m.Config
	c.Arch = c.ArchName() // v2 always names it
	cfg, err := json.Marshal(c)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": FormatV2, "config": string(cfg), "step": "0",
		"precision": string(nn.BackendPrecision(m.B))}
	if dataset != "" {
		meta["dataset"] = dataset
	}
	if tr != nil {
		st := TrainState{Step: tr.Step, LR: tr.LR, Options: tr.Opt, Data: tr.batcher.State(), Dataset: dataset,
			Run: tr.RunID, Device: m.B.Name()}
		if w := tr.World(); w > 1 { // absent for one process, as in files from before worlds
			st.World = w
		}
		js, err := json.Marshal(st)
		if err != nil {
			return err
		}
		meta["train_state"] = string(js)
		meta["step"] = strconv.Itoa(tr.Step)
		meta["lr"] = strconv.FormatFloat(tr.LR, 'g', -1, 64)
	}
	meta[MetaSHA256] = contentSHA256(tensors, meta) // last: it covers every other key
	return safetensors.Write(path, tensors, meta)
}

// CheckpointFile is the checkpoint's name inside a run directory.
const CheckpointFile = "checkpoint.safetensors"

// ResolveCheckpoint turns a --checkpoint argument into a file: a run directory stands for its
// checkpoint.
func ResolveCheckpoint(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	ck := filepath.Join(path, CheckpointFile)
	if _, err := os.Stat(ck); err != nil {
		return "", fmt.Errorf("checkpoint: %s is a directory without a %s (not a run directory?)", path, CheckpointFile)
	}
	return ck, nil
}

// Load reads a checkpoint and builds its model on backend b. It checks the checksum (of the
// metadata and the data; of the data alone in older files, which get a Notice), the format,
// that every tensor is finite and present with the shape the config implies, and that every
// masked weight is exactly 0; errors name the file and the tensor.
func Load(path string, b nn.Backend) (*Checkpoint, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %s", path, fmt.Sprintf(format, args...))
	}
	notice, err := verifyChecksum(path, f)
	if err != nil {
		return nil, err
	}
	format := f.Metadata["format"]
	if format != FormatV1 && format != FormatV2 {
		return nil, fail("format %q, want %q or %q", format, FormatV2, FormatV1)
	}
	for _, t := range f.Tensors {
		if i, v, bad := firstNonFinite(t.Data); bad {
			return nil, fail("tensor %s holds a non-finite value (%g at element %d): the run that wrote it diverged", t.Name, v, i)
		}
	}
	ck := &Checkpoint{Notice: notice, optim: map[string]safetensors.Tensor{}}
	if err := json.Unmarshal([]byte(f.Metadata["config"]), &ck.Config); err != nil {
		return nil, fail("config metadata: %v", err)
	}
	if format == FormatV1 && (ck.Config.ArchName() != ArchPixelCNN || ck.Config.Classes != 0) {
		return nil, fail("a %s file holds the %s architecture, unconditional; its config says arch %q, %d classes", FormatV1, ArchPixelCNN, ck.Config.Arch, ck.Config.Classes)
	}
	if err := ck.Config.Validate(); err != nil {
		return nil, fail("%v", err)
	}
	if p, ok := f.Metadata["precision"]; ok {
		if ck.Precision, err = nn.ParsePrecision(p); err != nil {
			return nil, fail("metadata: %v", err)
		}
	}
	if js, ok := f.Metadata["train_state"]; ok {
		ck.Train = new(TrainState)
		if err := json.Unmarshal([]byte(js), ck.Train); err != nil {
			return nil, fail("train_state metadata: %v", err)
		}
		if err := ck.Train.Validate(); err != nil {
			return nil, fail("train_state metadata: %v", err)
		}
		ck.Dataset = ck.Train.Dataset
	}
	if d := f.Metadata["dataset"]; d != "" {
		ck.Dataset = d
	}
	get := func(name string, shape []int) ([]float32, error) {
		t, ok := f.Get(name)
		if !ok {
			return nil, fail("tensor %s missing", name)
		}
		if !nn.SameShape(t.Shape, shape) {
			return nil, fail("tensor %s has shape %v, config %s implies %v", name, t.Shape, f.Metadata["config"], shape)
		}
		return t.Data, nil
	}
	m := newEmptyModel(b, ck.Config)
	for _, d := range m.arch.convs(ck.Config) {
		s := d.Spec
		tw, err := get(s.Name+".weight", torchShape(s))
		if err != nil {
			return nil, err
		}
		bias, err := get(s.Name+".bias", []int{s.Out})
		if err != nil {
			return nil, err
		}
		w := fromTorch(tw, s)
		mask, _ := nn.Mask(s)
		for i, v := range w {
			if mask[i] == 0 && v != 0 {
				return nil, fail("tensor %s.weight has a non-zero masked entry (%g): not an effective PixelCNN weight", s.Name, v)
			}
		}
		if err := m.addLayer(s, w, bias); err != nil {
			return nil, fail("%v", err)
		}
	}
	for _, td := range m.arch.tables(ck.Config) {
		v, err := get(td.Name, []int{ck.Config.Classes, td.Width})
		if err != nil {
			return nil, err
		}
		if err := m.addTable(td, v); err != nil {
			return nil, fail("%v", err)
		}
	}
	for _, t := range f.Tensors {
		if len(t.Name) > 6 && t.Name[:6] == "optim." {
			ck.optim[t.Name] = t
		}
	}
	ck.Model = m
	return ck, nil
}

// Resume returns a trainer that continues exactly where the checkpoint's trainer stopped:
// same step, lr, optimiser state and position in the data order.
func (ck *Checkpoint) Resume(split data.Split) (*Trainer, error) {
	if ck.Train == nil {
		return nil, fmt.Errorf("checkpoint has no training state (saved without a trainer)")
	}
	tr, err := NewTrainer(ck.Model, split, ck.Train.Options)
	if err != nil {
		return nil, err
	}
	if err := tr.batcher.Restore(ck.Train.Data); err != nil {
		return nil, fmt.Errorf("resume: data order: %w", err)
	}
	tr.Step, tr.LR, tr.RunID = ck.Train.Step, ck.Train.LR, ck.Train.Run
	if err := ck.checkOptimState(tr.checkpointPrefixes()); err != nil {
		return nil, err
	}
	// With an average, the loaded model (the file's plain names) is the average, which
	// NewTrainer copied into tr.avg; the trained weights come from WeightsPrefix.
	for slot, prefix := range tr.checkpointPrefixes() {
		for i, p := range ck.Model.params() {
			h := ck.optim[prefix+p.name].Data
			if p.conv != nil {
				h = fromTorch(h, *p.conv)
			}
			var dst *nn.Tensor
			if prefix == WeightsPrefix {
				dst = p.v.Value
			} else {
				dst = tr.state[slot][i]
			}
			src, err := ck.Model.B.FromHost(h, dst.Shape...)
			if err != nil {
				return nil, fmt.Errorf("resume: %s: %w", prefix+p.name, err)
			}
			if err := ck.Model.B.Copy(dst, src); err != nil {
				return nil, err
			}
			ck.Model.B.Release(src)
		}
	}
	return tr, nil
}

// checkOptimState checks that the checkpoint holds exactly the optimiser tensors the slot
// prefixes imply, each with its parameter's (PyTorch-layout) shape.
func (ck *Checkpoint) checkOptimState(prefixes []string) error {
	want := map[string][]int{}
	var names []string // in checkpoint order, so the first problem is the one reported
	for _, prefix := range prefixes {
		for _, p := range ck.Model.params() {
			want[prefix+p.name] = p.storedShape()
			names = append(names, prefix+p.name)
		}
	}
	for _, name := range names {
		shape := want[name]
		t, ok := ck.optim[name]
		if !ok {
			return fmt.Errorf("resume: optimiser tensor %s missing", name)
		}
		if !nn.SameShape(t.Shape, shape) {
			return fmt.Errorf("resume: optimiser tensor %s has shape %v, its parameter's is %v", name, t.Shape, shape)
		}
	}
	for name := range ck.optim {
		if _, ok := want[name]; !ok {
			return fmt.Errorf("resume: optimiser tensor %s is not part of %s's state (%d tensors expected)", name, ck.Train.Options.Optimizer, len(want))
		}
	}
	return nil
}

// firstNonFinite returns the first NaN or infinite element of d.
func firstNonFinite(d []float32) (int, float32, bool) {
	for i, v := range d {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return i, v, true
		}
	}
	return 0, 0, false
}
