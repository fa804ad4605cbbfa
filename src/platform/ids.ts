import { v7 as uuidv7, validate, version } from 'uuid';

/** UUIDv7 generated in the application, so an id is known before its row is inserted (DESIGN §5). */
export const newId = (): string => uuidv7();

export const isUuid = (value: string): boolean => validate(value) && version(value) === 7;

/** The creation time (epoch ms) a UUIDv7 carries in its first 48 bits. */
export const timestampOfId = (id: string): number => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
