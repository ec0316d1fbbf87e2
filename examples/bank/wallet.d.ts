export interface Wallet {
    balance: number;
    open: boolean;
}
/** A wallet holding a whole-number balance. It has no de-duplication code: the runtime does that. */
export declare const wallet: import("sagaflow").EntityDefinition<Wallet, {
    created: (_s: Wallet, e: {
        initialBalance: number;
    }) => {
        balance: number;
        open: true;
    };
    withdrawn: (s: Wallet, e: {
        amount: number;
    }) => {
        balance: number;
        open: boolean;
    };
    deposited: (s: Wallet, e: {
        amount: number;
    }) => {
        balance: number;
        open: boolean;
    };
}, {
    create: (s: Wallet, c: {
        initialBalance: number;
    }, fx: import("sagaflow").EntityEffects<Wallet, import("sagaflow").EventsOf<{
        created: (_s: Wallet, e: {
            initialBalance: number;
        }) => {
            balance: number;
            open: true;
        };
        withdrawn: (s: Wallet, e: {
            amount: number;
        }) => {
            balance: number;
            open: boolean;
        };
        deposited: (s: Wallet, e: {
            amount: number;
        }) => {
            balance: number;
            open: boolean;
        };
    }>>) => import("sagaflow").Effect<{
        balance: number;
    }>;
    withdraw: (s: Wallet, c: {
        amount: number;
    }, fx: import("sagaflow").EntityEffects<Wallet, import("sagaflow").EventsOf<{
        created: (_s: Wallet, e: {
            initialBalance: number;
        }) => {
            balance: number;
            open: true;
        };
        withdrawn: (s: Wallet, e: {
            amount: number;
        }) => {
            balance: number;
            open: boolean;
        };
        deposited: (s: Wallet, e: {
            amount: number;
        }) => {
            balance: number;
            open: boolean;
        };
    }>>) => import("sagaflow").Effect<{
        balance: number;
    }>;
    deposit: (s: Wallet, c: {
        amount: number;
    }, fx: import("sagaflow").EntityEffects<Wallet, import("sagaflow").EventsOf<{
        created: (_s: Wallet, e: {
            initialBalance: number;
        }) => {
            balance: number;
            open: true;
        };
        withdrawn: (s: Wallet, e: {
            amount: number;
        }) => {
            balance: number;
            open: boolean;
        };
        deposited: (s: Wallet, e: {
            amount: number;
        }) => {
            balance: number;
            open: boolean;
        };
    }>>) => import("sagaflow").Effect<{
        balance: number;
    }>;
}, {
    balance: (s: Wallet, _: {}, fx: import("sagaflow").ReplyEffects) => import("sagaflow").Effect<{
        balance: number;
    }>;
}>;
