// Package testdata finds the test data shared by every package of the
// repository: the MITRE ATT&CK STIX 2.1 bundles and the OASIS STIX 2.1 JSON
// schemas. They live outside the module, in the folder "shared/testdata"
// beside the repository root (so a fresh clone in CI needs "shared/" next to
// it), or wherever the environment variable CTIMESH_SHARED points.
//
// The testing.TB helpers fail the test loudly when the data is missing; they
// never skip, so a misconfigured CI cannot pass by testing nothing. The plain
// variants (FindShared, LoadICS, LoadEnterprise) serve benchmark commands.
//
// Invariants: the shared folder is read-only; the byte slices returned by
// ICS, Enterprise, LoadICS and LoadEnterprise are loaded once per process
// and shared by every caller, which must not modify them.
package testdata
