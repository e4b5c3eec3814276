// Creates the container (argv[3]) on Azurite's blob service at argv[2]
// (http://127.0.0.1:PORT/devstoreaccount1) with the emulator's well-known key.
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";

const [endpoint, container] = process.argv.slice(2);
const key =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const cred = new StorageSharedKeyCredential("devstoreaccount1", key);
const client = new BlobServiceClient(endpoint, cred);
await client.getContainerClient(container).createIfNotExists();
