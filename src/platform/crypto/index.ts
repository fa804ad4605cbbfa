export { KEY_BYTES, KeyringError, createKeyring, formatKeyring, generateKeyring, parseKeyring, type Keyring } from './keyring.js';
export { IntegrityError, isIntegrityError, type IntegrityFailure } from './crypto.errors.js';
export { ENVELOPE_FORMAT, FIELD_CIPHER_KEY_LABEL, createFieldCipher, type CipherContext, type FieldCipher } from './aead.js';
export { BLIND_INDEX_KEY_LABEL, createBlindIndex, normaliseEmail, type BlindIndex } from './blind-index.js';
export {
  encryptedColumns,
  type ColumnKind,
  type ColumnSpec,
  type EncryptedColumns,
  type Opened,
  type PlainInput,
  type PlainOutput,
  type SealInput,
  type Sealed,
} from './encrypted-columns.js';
export {
  DEFAULT_PASSWORD_HASH_PARAMS,
  createPasswordHasher,
  type PasswordHashParams,
  type PasswordHasher,
} from './password-hasher.js';
