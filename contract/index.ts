/**
 * The contract between scimflow and the application it provisions: what an application imports
 * to implement the activity `applyDirectoryChanges` (Temporal-native delivery) or the signed HTTP
 * push handler, and to validate what it is given. The same shapes, for other languages, are in
 * `change-records.schema.json` (JSON Schema, draft 2020-12), generated from `schema.ts`.
 */
export {
  APPLY_DIRECTORY_CHANGES,
  CHANGE_KINDS,
  type ApplicationActivities,
  type ChangeBatch,
  type ChangeBatchResult,
  type ChangeCause,
  type ChangeKind,
  type ChangeRecord,
  type DirectoryChangeRecord,
  type DirectoryView,
  type FieldChange,
  type GroupChangeRecord,
  type GroupView,
  type UserChangeRecord,
  type UserView,
} from '../domain/changes';
export {
  CONTRACT_DESCRIPTION,
  changeBatchResultSchema,
  changeBatchSchema,
  changeRecordSchema,
  contractJsonSchema,
  directoryChangeRecordSchema,
  groupChangeRecordSchema,
  userChangeRecordSchema,
} from './schema';
