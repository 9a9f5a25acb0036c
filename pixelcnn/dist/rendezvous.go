package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The torchrun rendezvous: a world launched without MPI by torchrun (or anything that sets the
// same variables: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) shares one small
// secret, NCCL's unique id, from rank 0 to every other rank over TCP. Rank 0 listens on
// MASTER_ADDR:MASTER_PORT; every other rank dials it (with retries: it may start first) and
// receives the id. Nothing else travels: the collectives run in NCCL.

// TorchrunEnv is the world the torchrun variables describe.
type TorchrunEnv struct {
	Rank, WorldSize, LocalRank int
	MasterAddr                 string
	MasterPort                 int
	// Timeout bounds the rendezvous (PIXELCNN_RENDEZVOUS_TIMEOUT, a Go duration; default 5m).
	Timeout time.Duration
}

// DefaultRendezvousTimeout is how long the ranks wait for each other without
// PIXELCNN_RENDEZVOUS_TIMEOUT.
const DefaultRendezvousTimeout = 5 * time.Minute

// Addr is MASTER_ADDR:MASTER_PORT, or MASTER_ADDR:PIXELCNN_RENDEZVOUS_PORT when that is set
// (recent torchrun versions may run their own store on MASTER_PORT:
// TORCHELASTIC_USE_AGENT_STORE=True; then give the ranks a free port of rank 0's host).
func (e TorchrunEnv) Addr() string {
	return net.JoinHostPort(e.MasterAddr, strconv.Itoa(e.MasterPort))
}

// TorchrunFromEnv reads the torchrun variables through getenv (os.Getenv when nil). ok is false
// when neither RANK nor WORLD_SIZE is set (not a torchrun launch); otherwise every variable is
// parsed strictly and an error names the one that is missing or bad. LOCAL_RANK may be
// replaced by OMPI_COMM_WORLD_LOCAL_RANK or SLURM_LOCALID, and defaults to RANK when none is
// set (one machine).
func TorchrunFromEnv(getenv func(string) string) (e TorchrunEnv, ok bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("RANK") == "" && getenv("WORLD_SIZE") == "" {
		return TorchrunEnv{}, false, nil
	}
	intVar := func(name string, min, max int) (int, error) {
		s := getenv(name)
		if s == "" {
			return 0, fmt.Errorf("dist: %s is not set (a torchrun launch sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)", name)
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < min || v > max {
			return 0, fmt.Errorf("dist: %s=%q: want an integer from %d to %d", name, s, min, max)
		}
		return v, nil
	}
	if e.WorldSize, err = intVar("WORLD_SIZE", 1, 1<<20); err != nil {
		return TorchrunEnv{}, true, err
	}
	if e.Rank, err = intVar("RANK", 0, e.WorldSize-1); err != nil {
		return TorchrunEnv{}, true, err
	}
	e.LocalRank = e.Rank
	for _, name := range []string{"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"} {
		if getenv(name) != "" {
			if e.LocalRank, err = intVar(name, 0, e.WorldSize-1); err != nil {
				return TorchrunEnv{}, true, err
			}
			break
		}
	}
	e.Timeout = DefaultRendezvousTimeout
	if s := getenv("PIXELCNN_RENDEZVOUS_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return TorchrunEnv{}, true, fmt.Errorf("dist: PIXELCNN_RENDEZVOUS_TIMEOUT=%q: want a positive duration such as 30s or 5m", s)
		}
		e.Timeout = d
	}
	if e.WorldSize == 1 {
		return e, true, nil // nobody to meet: MASTER_ADDR and MASTER_PORT are not needed
	}
	if e.MasterAddr = strings.TrimSpace(getenv("MASTER_ADDR")); e.MasterAddr == "" {
		return TorchrunEnv{}, true, fmt.Errorf("dist: MASTER_ADDR is not set (WORLD_SIZE=%d: rank 0's host name or address, where the ranks meet)", e.WorldSize)
	}
	port := "MASTER_PORT"
	if getenv("PIXELCNN_RENDEZVOUS_PORT") != "" {
		port = "PIXELCNN_RENDEZVOUS_PORT" // MASTER_PORT may be torch's own store (see Addr)
	}
	if e.MasterPort, err = intVar(port, 1, 65535); err != nil {
		return TorchrunEnv{}, true, err
	}
	return e, true, nil
}

// The messages of the rendezvous, all little-endian. A rank's hello: magic, its rank, its world
// size. Rank 0's answer: magic, a status byte; status 0 then the world size, the id's length,
// the id and a CRC-32 (IEEE) of the id; status 1 then a message's length and the message (a
// refusal: another world size, a rank out of range or seen twice).
var rendezvousMagic = [8]byte{'P', 'X', 'C', 'N', 'N', 'R', 'V', '1'}

const maxRendezvousPayload = 1 << 16

// Rendezvous is rank 0's side: a listener on MASTER_ADDR:MASTER_PORT that hands the id to
// the other WorldSize-1 ranks.
type Rendezvous struct {
	env TorchrunEnv
	ln  net.Listener
}

// ListenRendezvous listens on e's MASTER_ADDR:MASTER_PORT (port 0 picks a free one: see
// Addr). Only rank 0 listens.
func ListenRendezvous(e TorchrunEnv) (*Rendezvous, error) {
	ln, err := net.Listen("tcp", e.Addr())
	if err != nil {
		return nil, fmt.Errorf("dist: rank 0 cannot listen on MASTER_ADDR:MASTER_PORT %s for the rendezvous: %w (is another job using the port? under torchrun with TORCHELASTIC_USE_AGENT_STORE=True the port is torch's own store: set PIXELCNN_RENDEZVOUS_PORT to a free port on every rank)", e.Addr(), err)
	}
	return &Rendezvous{env: e, ln: ln}, nil
}

// Addr is the address the listener is bound to (with the real port when MASTER_PORT was 0).
func (r *Rendezvous) Addr() net.Addr { return r.ln.Addr() }

// Close stops listening.
func (r *Rendezvous) Close() error { return r.ln.Close() }

// Serve sends id to every other rank of the world, each once, and returns when all
// WorldSize-1 have it, or with an error naming the ranks that never came within the timeout.
// It closes the listener.
func (r *Rendezvous) Serve(id []byte) error {
	defer r.ln.Close()
	if len(id) > maxRendezvousPayload {
		return fmt.Errorf("dist: rendezvous id of %d bytes: at most %d", len(id), maxRendezvousPayload)
	}
	deadline := time.Now().Add(r.env.Timeout)
	served := make(map[int]bool)
	for len(served) < r.env.WorldSize-1 {
		if tl, ok := r.ln.(*net.TCPListener); ok {
			_ = tl.SetDeadline(deadline)
		}
		conn, err := r.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("dist: rendezvous on %s: after %v, ranks %v never connected (are they started, with MASTER_ADDR and MASTER_PORT reaching rank 0? PIXELCNN_RENDEZVOUS_TIMEOUT sets the wait)", r.Addr(), r.env.Timeout, r.missing(served))
			}
			return fmt.Errorf("dist: rendezvous on %s: %w", r.Addr(), err)
		}
		rank, err := r.serveOne(conn, id, served, deadline)
		conn.Close()
		switch {
		case errors.Is(err, errStray):
			continue // not one of ours (a port scanner, a health check): ignore it
		case err != nil:
			return err
		}
		served[rank] = true
	}
	return nil
}

var errStray = errors.New("not a rendezvous hello")

func (r *Rendezvous) missing(served map[int]bool) []int {
	var m []int
	for k := 1; k < r.env.WorldSize; k++ {
		if !served[k] {
			m = append(m, k)
		}
	}
	return m
}

// serveOne reads a hello and answers it: the id, or a refusal (also returned as an error:
// a rank of another world is fatal for this one).
func (r *Rendezvous) serveOne(conn net.Conn, id []byte, served map[int]bool, deadline time.Time) (int, error) {
	_ = conn.SetDeadline(minTime(deadline, time.Now().Add(30*time.Second)))
	var hello [16]byte
	if _, err := io.ReadFull(conn, hello[:]); err != nil || [8]byte(hello[:8]) != rendezvousMagic {
		return 0, errStray
	}
	rank := int(int32(binary.LittleEndian.Uint32(hello[8:])))
	size := int(int32(binary.LittleEndian.Uint32(hello[12:])))
	var refusal string
	switch {
	case size != r.env.WorldSize:
		refusal = fmt.Sprintf("rank %d has WORLD_SIZE=%d, rank 0 has WORLD_SIZE=%d: start every rank with the same WORLD_SIZE", rank, size, r.env.WorldSize)
	case rank <= 0 || rank >= size:
		refusal = fmt.Sprintf("a rank %d dialled rank 0 (want 1 to %d)", rank, r.env.WorldSize-1)
	case served[rank]:
		refusal = fmt.Sprintf("two processes have RANK=%d: every rank must have its own RANK", rank)
	}
	msg := append([]byte(nil), rendezvousMagic[:]...)
	if refusal != "" {
		msg = append(msg, 1)
		msg = binary.LittleEndian.AppendUint32(msg, uint32(len(refusal)))
		msg = append(msg, refusal...)
		_, _ = conn.Write(msg)
		return 0, fmt.Errorf("dist: rendezvous on %s: %s", r.Addr(), refusal)
	}
	msg = append(msg, 0)
	msg = binary.LittleEndian.AppendUint32(msg, uint32(r.env.WorldSize))
	msg = binary.LittleEndian.AppendUint32(msg, uint32(len(id)))
	msg = append(msg, id...)
	msg = binary.LittleEndian.AppendUint32(msg, crc32.ChecksumIEEE(id))
	if _, err := conn.Write(msg); err != nil {
		return 0, fmt.Errorf("dist: rendezvous on %s: sending the id to rank %d: %w", r.Addr(), rank, err)
	}
	// Wait for the rank to close its side: the id has arrived when Serve returns.
	var b [1]byte
	_, _ = conn.Read(b[:])
	return rank, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// FetchID is the side of a rank other than 0: it dials e's MASTER_ADDR:MASTER_PORT until rank 0
// answers or e.Timeout passes (an error naming the address), and returns the id.
func FetchID(e TorchrunEnv) ([]byte, error) {
	if e.Rank == 0 {
		return nil, fmt.Errorf("dist: FetchID on rank 0 (rank 0 serves the id)")
	}
	deadline := time.Now().Add(e.Timeout)
	wait := 50 * time.Millisecond
	var last error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		conn, err := net.DialTimeout("tcp", e.Addr(), min(left, 10*time.Second))
		if err == nil {
			id, retry, err := fetchOne(conn, e, deadline)
			conn.Close()
			if err == nil {
				return id, nil
			}
			if !retry {
				return nil, err
			}
		}
		last = err
		time.Sleep(min(wait, max(time.Until(deadline), 0)))
		wait = min(2*wait, time.Second)
	}
	return nil, fmt.Errorf("dist: rank %d: no rendezvous with rank 0 at MASTER_ADDR:MASTER_PORT %s within %v (last error: %v): is rank 0 started, and does MASTER_ADDR name its host? (PIXELCNN_RENDEZVOUS_TIMEOUT sets the wait)", e.Rank, e.Addr(), e.Timeout, last)
}

// fetchOne says hello on conn and reads the answer; retry is true when the error may pass
// (the connection dropped before an answer).
func fetchOne(conn net.Conn, e TorchrunEnv, deadline time.Time) (id []byte, retry bool, err error) {
	_ = conn.SetDeadline(deadline)
	hello := append([]byte(nil), rendezvousMagic[:]...)
	hello = binary.LittleEndian.AppendUint32(hello, uint32(e.Rank))
	hello = binary.LittleEndian.AppendUint32(hello, uint32(e.WorldSize))
	if _, err := conn.Write(hello); err != nil {
		return nil, true, err
	}
	where := fmt.Sprintf("dist: rank %d: rendezvous with %s", e.Rank, e.Addr())
	var head [9]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return nil, true, err
	}
	if [8]byte(head[:8]) != rendezvousMagic {
		return nil, false, fmt.Errorf("%s: the answer is not pixelcnn's rendezvous (another service listens on MASTER_PORT?)", where)
	}
	readU32 := func() (uint32, error) {
		var b [4]byte
		_, err := io.ReadFull(conn, b[:])
		return binary.LittleEndian.Uint32(b[:]), err
	}
	if head[8] != 0 {
		n, err := readU32()
		if err != nil || n > maxRendezvousPayload {
			return nil, false, fmt.Errorf("%s: rank 0 refused this rank (its reason unreadable)", where)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(conn, msg); err != nil {
			return nil, false, fmt.Errorf("%s: rank 0 refused this rank (its reason unreadable)", where)
		}
		return nil, false, fmt.Errorf("%s: rank 0 refused this rank: %s", where, msg)
	}
	size, err := readU32()
	if err != nil {
		return nil, true, err
	}
	if int(size) != e.WorldSize {
		return nil, false, fmt.Errorf("%s: rank 0 has WORLD_SIZE=%d, this rank %d", where, size, e.WorldSize)
	}
	n, err := readU32()
	if err != nil {
		return nil, true, err
	}
	if n > maxRendezvousPayload {
		return nil, false, fmt.Errorf("%s: an id of %d bytes: corrupt answer", where, n)
	}
	id = make([]byte, n)
	if _, err := io.ReadFull(conn, id); err != nil {
		return nil, true, err
	}
	sum, err := readU32()
	if err != nil {
		return nil, true, err
	}
	if sum != crc32.ChecksumIEEE(id) {
		return nil, false, fmt.Errorf("%s: the id's checksum does not match: corrupt answer", where)
	}
	return id, false, nil
}

// ShareID gives every rank of e's world the id rank 0 makes with newID: rank 0 calls newID,
// listens and serves it; the others fetch it. A world of 1 only calls newID.
func ShareID(e TorchrunEnv, newID func() ([]byte, error)) ([]byte, error) {
	if e.Rank != 0 {
		return FetchID(e)
	}
	id, err := newID()
	if err != nil || e.WorldSize == 1 {
		return id, err
	}
	r, err := ListenRendezvous(e)
	if err != nil {
		return nil, err
	}
	if err := r.Serve(id); err != nil {
		return nil, err
	}
	return id, nil
}

// LocalRankVars are the launchers' variables for a process's rank on its machine, in the
// order they are read: torchrun's, Open MPI's, SLURM's, MPICH's (hydra).
var LocalRankVars = []string{"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}

// LocalRankFromEnv returns the local rank a launcher gave this process (the first of
// LocalRankVars that is set; getenv is os.Getenv when nil) and the variable it came from; ok is
// false when none is set. A value that is not a non-negative integer is an error naming it.
func LocalRankFromEnv(getenv func(string) string) (rank int, from string, ok bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, name := range LocalRankVars {
		s := getenv(name)
		if s == "" {
			continue
		}
		v, perr := strconv.Atoi(strings.TrimSpace(s))
		if perr != nil || v < 0 {
			return 0, name, true, fmt.Errorf("dist: %s=%q is not a local rank (a non-negative integer)", name, s)
		}
		return v, name, true, nil
	}
	return 0, "", false, nil
}
