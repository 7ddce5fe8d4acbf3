// Runs once, when the MongoDB volume is first initialised: creates WADM's own user, with
// read and write on its database only (the root user is for the operator).
const database = process.env.MONGO_INITDB_DATABASE || "wadm";
db.getSiblingDB(database).createUser({
  user: process.env.WADM_MONGO_USER || "wadm",
  pwd: process.env.WADM_MONGO_PASSWORD,
  roles: [{ role: "readWrite", db: database }],
});
