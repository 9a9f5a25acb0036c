//go:build !mpi

package dist

// Open returns the world this process runs in: in a build without MPI, always the single
// process. notice is "" (the MPI build says when it was started without a launcher).
func Open() (c Comm, notice string, err error) { return Single{}, "", nil }

// HasMPI reports whether this binary was built with the MPI implementation (-tags mpi).
const HasMPI = false
