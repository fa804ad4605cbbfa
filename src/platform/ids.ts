import { v7 as uuidv7, validate, version } from 'uuid';

/** UUIDv7 generated in the application, so an id is known before its row is inserted (DESIGN §5). */
export const newId = (): string => uuidv7();

export const isUuid = (value: string): boolean => validate(value) && version(value) === 7;
