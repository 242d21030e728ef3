package s3store

// WireProtected is wireProtected, for tests.
var WireProtected = wireProtected
