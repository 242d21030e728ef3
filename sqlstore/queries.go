package sqlstore

import "strings"

// queries are the shared statements in one dialect.
type queries struct {
	getResource, insert, update, getVersion, delete  string
	updateInPlace                                    string      // with Dialect.UpdateInPlace
	list                                             [][2]string // [index][desc]
	count                                            []string    // [index]
	getIdempotency, putIdempotency, purgeIdempotency string
	getMeta, putMeta                                 string
	putCredential, putFirstAdmin, getCredential      string
	listCredentials, deleteCredential                string
}

func (q *queries) all() []string {
	out := []string{q.getResource, q.insert, q.update, q.updateInPlace, q.getVersion, q.delete,
		q.getIdempotency, q.putIdempotency, q.purgeIdempotency, q.getMeta, q.putMeta,
		q.putCredential, q.putFirstAdmin, q.getCredential, q.listCredentials, q.deleteCredential}
	for i := range q.list {
		out = append(out, q.list[i][0], q.list[i][1], q.count[i])
	}
	return out
}

// RecordColumns is the column list every resource query selects (a
// store's own statements too), in the order RecordDest scans it.
const RecordColumns = `seq, kind, id, studio_id, parent_id, owned_by, state, version, created_at, updated_at, data`

const credentialColumns = `access_key_id, secret, principal_id, admin, created_at`

func buildQueries(d *Dialect) queries {
	q := queries{
		getResource: `SELECT ` + RecordColumns + ` FROM resources WHERE kind = $1 AND id = $2`,
		insert: `
			INSERT INTO resources (kind, id, studio_id, parent_id, owned_by, state, version, created_at, updated_at, data)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)
			ON CONFLICT (kind, id) DO NOTHING
			RETURNING seq`,
		update: `
			UPDATE resources
			SET studio_id = $1, parent_id = $2, owned_by = $3, state = $4, version = version + 1,
				updated_at = $5, data = $6
			WHERE kind = $7 AND id = $8 AND version = $9
			RETURNING seq, created_at`,
		// The arguments of update; the record keeps its indexed columns.
		updateInPlace: `
			UPDATE resources
			SET state = $4, version = version + 1, updated_at = $5, data = $6
			WHERE kind = $7 AND id = $8 AND version = $9 AND studio_id = $1 AND parent_id = $2 AND owned_by = $3
			RETURNING seq, created_at`,
		getVersion: `SELECT version FROM resources WHERE kind = $1 AND id = $2`,
		delete:     `DELETE FROM resources WHERE kind = $1 AND id = $2`,

		getIdempotency: `SELECT request_hash, response, created_at, expires_at FROM idempotency WHERE key = $1`,
		// The existing row is named by its table, which both databases
		// accept in an upsert's WHERE.
		putIdempotency: `
			INSERT INTO idempotency (key, request_hash, response, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response,
				created_at = excluded.created_at, expires_at = excluded.expires_at
			WHERE idempotency.expires_at <= excluded.created_at`,
		purgeIdempotency: `
			DELETE FROM idempotency WHERE key IN (
				SELECT key FROM idempotency WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`,

		getMeta: `SELECT value FROM meta WHERE key = $1`,
		putMeta: `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,

		putCredential: `
			INSERT INTO credentials (` + credentialColumns + `)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (access_key_id) DO UPDATE SET
				secret = excluded.secret, principal_id = excluded.principal_id,
				admin = excluded.admin, created_at = excluded.created_at`,
		// admin is a boolean in PostgreSQL and 0 or 1 in SQLite: both
		// take it as a condition.
		putFirstAdmin: `
			INSERT INTO credentials (` + credentialColumns + `)
			SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM credentials WHERE admin)`,
		getCredential:    `SELECT ` + credentialColumns + ` FROM credentials WHERE access_key_id = $1`,
		listCredentials:  `SELECT ` + credentialColumns + ` FROM credentials ORDER BY access_key_id`,
		deleteCredential: `DELETE FROM credentials WHERE access_key_id = $1`,
	}
	for _, ix := range ListIndexes {
		from := `SELECT ` + RecordColumns + ` FROM resources` + d.IndexHint(ix.Name) + ` WHERE ` + ix.where(d)
		q.list = append(q.list, [2]string{
			from + ` AND seq > $7 ORDER BY seq ASC LIMIT $8`,
			from + ` AND seq < $7 ORDER BY seq DESC LIMIT $8`,
		})
		q.count = append(q.count, `SELECT count(*) FROM resources`+d.IndexHint(ix.Name)+` WHERE `+ix.where(d))
	}
	for _, p := range []*string{&q.getResource, &q.insert, &q.update, &q.updateInPlace, &q.getVersion, &q.delete,
		&q.getIdempotency, &q.putIdempotency, &q.purgeIdempotency, &q.getMeta, &q.putMeta,
		&q.putCredential, &q.putFirstAdmin, &q.getCredential, &q.listCredentials, &q.deleteCredential} {
		*p = d.sql(*p)
	}
	for i := range q.list {
		q.list[i][0], q.list[i][1], q.count[i] = d.sql(q.list[i][0]), d.sql(q.list[i][1]), d.sql(q.count[i])
	}
	return q
}

// where is the filter of the list statements on ix, without the cursor.
func (ix ListIndex) where(d *Dialect) string {
	conds := []string{"kind = $1"}
	filter := func(covered bool, col, arg string) {
		if covered {
			conds = append(conds, col+" = "+arg)
		} else {
			conds = append(conds, "("+d.Text(arg)+" = '' OR "+col+" = "+arg+")")
		}
	}
	filter(ix.studio, "studio_id", "$2")
	filter(ix.parent, "parent_id", "$3")
	filter(ix.owner, "owned_by", "$4")
	conds = append(conds, d.StateIn("$5", false), d.StateIn("$6", true))
	return strings.Join(conds, " AND ")
}
