package ledgerd

import _ "embed"

// SchemaSQL is schema.sql: every version of the database schema, in
// "-- version N" sections that ledger.Open applies in order.
//
//go:embed schema.sql
var SchemaSQL string
